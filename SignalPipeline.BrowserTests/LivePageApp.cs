using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Confluent.Kafka;

namespace SignalPipeline.BrowserTests;

/// <summary>
/// The AppHost, started once for every browser test (a start costs seconds), plus two test streams written for as long
/// as the tests run, so the page has data whatever else the app produces:
/// <see cref="StreamId"/>, filtered chunks written straight to <c>sample-output</c> (the page alone), and
/// <see cref="ProcessedStreamId"/>, raw chunks written to <c>sample-input</c> with its own stream-config entry
/// (<see cref="ProcessedAlgorithm"/>, order <see cref="ProcessedOrder"/>), which the processor filters and can show.
/// </summary>
public sealed class LivePageApp : IAsyncLifetime
{
    public const string Collection = "live page";
    public const string ProcessedAlgorithm = "rls";
    public const int ProcessedOrder = 4;

    /// <summary>
    /// The bridge's <c>Bridge:IdleTimeoutSeconds</c> here (60 by default): a page with nothing selected is closed 1008 this
    /// long after it connects, short enough for a test to wait for; every other test subscribes within its first poll.
    /// </summary>
    public const int IdleTimeoutSeconds = 10;

    private const string Bridge = "websocket-bridge";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    private readonly CancellationTokenSource _stop = new();
    private DistributedApplication? _app;
    private Task[] _producing = [];

    public string StreamId { get; } = "browser-" + Guid.NewGuid().ToString("N")[..8];

    public string ProcessedStreamId { get; } = "browser-rls-" + Guid.NewGuid().ToString("N")[..8];

    public Uri PageUri { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // The dev broker whatever this machine has (a container runtime, KAFKA_BROKERS): as SignalPipeline.Tests' TestAppHost.
        // Two processor replicas as the AppHost runs them: the bridge's question may land on the instance that does not
        // hold the stream, which then forwards it to the owner (docs/processor.md, "Which instance answers").
        string[] settings = ["Kafka:Broker=dev", "KAFKA_BROKERS=", "ConnectionStrings:kafka="];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.SignalPipeline_AppHost>(settings).WaitAsync(StartTimeout);
        foreach (var resource in builder.Resources.OfType<IResourceWithEnvironment>())
        {
            // No dashboard in tests: without this each service waits ~10 s at stop for a gone OTLP endpoint.
            resource.Annotations.Add(new EnvironmentCallbackAnnotation(env => env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "1000"));
        }

        builder.Resources.OfType<ProjectResource>().Single(r => r.Name == Bridge).Annotations
            .Add(new EnvironmentCallbackAnnotation(env => env["Bridge__IdleTimeoutSeconds"] = IdleTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        _app = await builder.BuildAsync().WaitAsync(StartTimeout);
        await _app.StartAsync().WaitAsync(StartTimeout);
        await _app.ResourceNotifications.WaitForResourceHealthyAsync(Bridge).WaitAsync(StartTimeout);
        PageUri = _app.GetEndpoint(Bridge, "http");

        var bootstrap = (await _app.GetConnectionStringAsync("kafka").AsTask().WaitAsync(StartTimeout))!;
        _producing = [Task.Run(() => ProduceFiltered(bootstrap, _stop.Token)), Task.Run(() => ProduceRaw(bootstrap, _stop.Token))];
    }

    /// <summary>
    /// Stops the bridge with its Aspire stop command, as the dashboard's Stop button does (SIGTERM to the process), and
    /// returns once it has exited; the AppHost's proxy keeps listening on <see cref="PageUri"/>.
    /// </summary>
    public async Task StopBridgeAsync()
    {
        var result = await _app!.ResourceCommands.ExecuteCommandAsync(Bridge, KnownResourceCommands.StopCommand).WaitAsync(StartTimeout);
        Assert.True(result.Success, $"Stopping {Bridge} failed: {result.Message}");
        await _app.ResourceNotifications.WaitForResourceAsync(Bridge, KnownResourceStates.TerminalStates).WaitAsync(StartTimeout);
    }

    /// <summary>Starts the bridge again with its Aspire start command and returns once it is healthy.</summary>
    public async Task StartBridgeAsync()
    {
        var result = await _app!.ResourceCommands.ExecuteCommandAsync(Bridge, KnownResourceCommands.StartCommand).WaitAsync(StartTimeout);
        Assert.True(result.Success, $"Starting {Bridge} again failed: {result.Message}");
        await _app.ResourceNotifications.WaitForResourceHealthyAsync(Bridge).WaitAsync(StartTimeout);
    }

    /// <summary>A noisy two-tone signal at about 4000 samples/s in chunks of 200, with a moving average as "filtered".</summary>
    private async Task ProduceFiltered(string bootstrap, CancellationToken stop)
    {
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap, LingerMs = 1 }).Build();
        var signal = new TestSignal(3);
        var average = 0.0;
        for (var seq = 0L; !stop.IsCancellationRequested; seq++)
        {
            var raw = signal.Next(seq);
            var filtered = new double[raw.Length];
            for (var i = 0; i < raw.Length; i++)
            {
                average += 0.05 * (raw[i] - average);
                filtered[i] = average;
            }

            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            // The contract's JSON form (docs/messages.md), written out here so this project needs no reference to the codec.
            var json = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["stream_id"] = StreamId, ["seq"] = seq, ["algorithm"] = "lms", ["signal"] = raw, ["filtered_signal"] = filtered,
                ["timestamp_ms"] = now - 2, ["processed_ms"] = now,
            });
            producer.Produce("sample-output", new Message<string, string> { Key = StreamId, Value = json });
            if (!await PauseAsync(stop))
            {
                break;
            }
        }

        producer.Flush(TimeSpan.FromSeconds(5));
    }

    /// <summary>The stream's own config first (docs/messages.md, stream-config), then raw chunks for the processor.</summary>
    private async Task ProduceRaw(string bootstrap, CancellationToken stop)
    {
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap, LingerMs = 1 }).Build();
        var config = JsonSerializer.Serialize(new { algorithm = ProcessedAlgorithm, @params = new { order = ProcessedOrder } });
        await producer.ProduceAsync("stream-config", new Message<string, string> { Key = ProcessedStreamId, Value = config }, stop);

        var signal = new TestSignal(5);
        for (var seq = 0L; !stop.IsCancellationRequested; seq++)
        {
            var json = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["stream_id"] = ProcessedStreamId, ["seq"] = seq, ["signal"] = signal.Next(seq), ["sample_rate"] = 4000,
                ["timestamp_ms"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            });
            producer.Produce("sample-input", new Message<string, string> { Key = ProcessedStreamId, Value = json });
            if (!await PauseAsync(stop))
            {
                break;
            }
        }

        producer.Flush(TimeSpan.FromSeconds(5));
    }

    private static async Task<bool> PauseAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(50, stop);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_producing).WaitAsync(TimeSpan.FromSeconds(30));

        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await _app.DisposeAsync();
        }
    }

    /// <summary>Chunks of 200 samples of two tones and some noise.</summary>
    private sealed class TestSignal(int seed)
    {
        private readonly Random _random = new(seed);

        public double[] Next(long seq)
        {
            var samples = new double[200];
            for (var i = 0; i < samples.Length; i++)
            {
                var n = seq * samples.Length + i;
                samples[i] = Math.Sin(n * 2 * Math.PI / 2000) + 0.3 * Math.Sin(n * 2 * Math.PI / 130) + 0.25 * (_random.NextDouble() - 0.5);
            }

            return samples;
        }
    }
}

/// <summary>Every browser test class shares one started app.</summary>
[CollectionDefinition(LivePageApp.Collection)]
public sealed class LivePageCollection : ICollectionFixture<LivePageApp>;
