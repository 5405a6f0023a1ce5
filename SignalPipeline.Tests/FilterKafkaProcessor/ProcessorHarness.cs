using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.State;
using FilterKafkaProcessor.Streaming;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SignalPipeline.Filters;
using SignalPipeline.Messages;
using SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// The stream processor's logic over the in-memory cluster, stepped by the test on its own thread with a clock the test
/// moves: no broker, no sleeps, the same decisions every run.
/// </summary>
public sealed class ProcessorHarness : IDisposable
{
    public const string Input = "sample-input";
    public const string Output = "sample-output";
    public const string Dlq = "sample-dlq";
    public const string Changelog = "filter-kafka-processor-state-changelog";

    private readonly List<StreamThread> _threads = [];
    private readonly TestMeterFactory _meters = new();
    private readonly Action<ProcessorOptions>? _configure;

    /// <param name="devBroker">As the dev broker: every reader of the processor also sees records of aborted and unfinished
    /// transactions (docs/processor.md, "When aborted records are visible"), and the processor compensates
    /// (<c>Processor:DevBrokerCompensation</c>).</param>
    public ProcessorHarness(int partitions = 4, Action<ProcessorOptions>? configure = null, bool devBroker = false)
    {
        Cluster = new InMemoryKafkaCluster(Time);
        foreach (var topic in new[] { Input, Output, Dlq, Changelog })
        {
            Cluster.CreateTopic(topic, partitions);
        }

        _configure = devBroker ? o => { o.DevBrokerCompensation = true; configure?.Invoke(o); } : configure;
        Options = NewOptions("template");
        Supplier = new InMemoryKafkaSupplier(Cluster, devBroker ? IsolationLevel.ReadUncommitted : IsolationLevel.ReadCommitted);
        Telemetry = new ProcessorTelemetry(_meters);
    }

    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UnixEpoch.AddDays(20_000));

    public InMemoryKafkaCluster Cluster { get; }

    public InMemoryKafkaSupplier Supplier { get; }

    public ProcessorOptions Options { get; }

    public ProcessorTelemetry Telemetry { get; }

    /// <summary>The meter scope of <see cref="Telemetry"/>, for reading its instruments by name (<c>DocumentedMetric</c>).</summary>
    public IMeterFactory Meters => _meters;

    /// <summary>A started processor instance (one consumer group member) with its own health.</summary>
    public (StreamThread Thread, ProcessorHealth Health) Start(IChunkFilterer? filterer = null, int? maxMessageBytes = null, string? instanceId = null, ILogger? logger = null)
    {
        var health = new ProcessorHealth(Options, Time);
        var options = NewOptions(instanceId ?? $"test-{_threads.Count}");
        var thread = new StreamThread(Supplier, options, filterer ?? new LocalChunkFilterer(options.Algorithm, options.Params), Telemetry, health, Time,
            logger ?? NullLogger.Instance, maxMessageBytes ?? Cluster.MaxMessageBytes);
        thread.Start();
        _threads.Add(thread);
        return (thread, health);
    }

    private ProcessorOptions NewOptions(string instanceId)
    {
        var options = new ProcessorOptions { RetryBackoffMs = 1, MaxRetryBackoffMs = 1, RestoreStallSeconds = 5, InstanceId = instanceId };
        _configure?.Invoke(options);
        return options;
    }

    /// <summary>Steps every instance until <paramref name="done"/> holds (or fails after <paramref name="maxSteps"/>).</summary>
    public void StepUntil(Func<bool> done, int maxSteps = 200, params StreamThread[] threads)
    {
        for (var i = 0; i < maxSteps; i++)
        {
            foreach (var thread in threads.Length > 0 ? threads : [.. _threads])
            {
                thread.Step(CancellationToken.None);
            }

            if (done())
            {
                return;
            }
        }

        Assert.Fail($"Not done after {maxSteps} steps.");
    }

    public void Step(int times = 1, params StreamThread[] threads) => StepUntil(() => --times <= 0, times + 1, threads);

    public void Produce(SampleChunk chunk, int partition)
    {
        var message = SampleCodec.ToMessage(chunk);
        Cluster.Produce(Input, partition, message.Key, message.Value, message.Headers);
    }

    public void ProduceRaw(string key, string json, int partition)
        => Cluster.Produce(Input, partition, Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(json));

    /// <summary>Committed output chunks per stream, in order.</summary>
    public Dictionary<string, List<FilteredChunk>> Outputs()
    {
        var result = new Dictionary<string, List<FilteredChunk>>();
        foreach (var record in Cluster.ReadCommitted(Output))
        {
            Assert.True(SampleCodec.TryDecodeFilteredChunk(record.Message.Key, record.Message.Value, record.Message.Headers, out var chunk, out var error), error.ToString());
            (result.TryGetValue(chunk.StreamId, out var list) ? list : result[chunk.StreamId] = []).Add(chunk);
        }

        return result;
    }

    public int OutputCount(string streamId) => Outputs().GetValueOrDefault(streamId)?.Count ?? 0;

    /// <summary>Committed dead letters: stream key and error code.</summary>
    public List<(string Key, string Code, string Reason)> DeadLetters()
        => [.. Cluster.ReadCommitted(Dlq).Select(r => (Encoding.UTF8.GetString(r.Message.Key ?? []), Header(r, MessageHeaders.DeadLetterErrorCode), Header(r, MessageHeaders.DeadLetterReason)))];

    public static SampleChunk Chunk(string streamId, long seq, int samples = 16, SampleFormat format = SampleFormat.Float64)
        => new(streamId, seq, Enumerable.Range(0, samples).Select(i => Math.Sin((seq * samples + i) * 0.05) + (streamId.Length % 7) * 0.1).ToArray(), 8000, 1_000) { Format = format };

    /// <summary>Each seq once, in order, filtered bit-identically to one kalman run over <paramref name="sent"/>.</summary>
    public static void AssertReference(IReadOnlyList<SampleChunk> sent, IReadOnlyList<FilteredChunk>? output)
    {
        Assert.NotNull(output);
        Assert.Equal(sent.Select(c => c.Seq), output.Select(c => c.Seq));
        var filter = FilterFactory.Create("kalman");
        foreach (var (input, actual) in sent.Zip(output))
        {
            var expected = new double[input.Signal.Length];
            filter.Process(input.Signal.Span, expected);
            // Bits, not values: a double's SequenceEqual takes -0.0 for 0.0 and NaN for NaN.
            Assert.True(MemoryMarshal.Cast<double, long>(expected.AsSpan()).SequenceEqual(MemoryMarshal.Cast<double, long>(actual.FilteredSignal.Span)),
                $"{input.StreamId} seq {input.Seq} differs from the reference");
        }
    }

    private static string Header(ConsumeResult<byte[], byte[]> record, string name)
        => record.Message.Headers.TryGetLastBytes(name, out var value) ? Encoding.UTF8.GetString(value) : "";

    public void Dispose()
    {
        foreach (var thread in _threads)
        {
            thread.Dispose();
        }

        Telemetry.Dispose();
        _meters.Dispose();
    }
}

/// <summary>Meters for a test, disposed with it.</summary>
public sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        // Scoped to this factory, as the host's factory does, so a test reads its own meters only.
        var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose() => _meters.ForEach(m => m.Dispose());
}
