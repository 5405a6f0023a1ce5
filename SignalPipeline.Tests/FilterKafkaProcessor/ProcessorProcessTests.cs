using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using SignalPipeline.Messages;
using SignalPipeline.Tests.DevBroker;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The built processor as its own process, against the dev broker process: how it stops when it cannot run, and what its probes say when it cannot move its input.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class ProcessorProcessTests
{
    private static readonly TimeSpan Timeout = DevBrokerProcess.Timeout;

    [Fact]
    public async Task A_bad_setting_the_stream_thread_checks_stops_it_with_exit_code_1_naming_the_setting()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync();

        // The topics are in place, so the host starts; the stream thread then refuses the producer's message size.
        var start = ExternalProcess.Command("dotnet", RepositoryLayout.OutputAssembly("FilterKafkaProcessor"));
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["ConnectionStrings__kafka"] = broker.BootstrapServers;
        start.Environment["Kafka__Producer__message.max.bytes"] = "1000";
        var run = await ExternalProcess.RunAsync(start, Timeout);

        // 1, not 0 (the host's own exit code after a failed background service), nor 134: the stream-config reader's
        // consumer was disposed under its running Consume, and glibc aborted the process as it exited.
        var output = run.Output + run.Error;
        Assert.Contains("Kafka:Producer:message.max.bytes", output);
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
    }

    [Fact]
    public async Task Filter_services_out_of_reach_make_it_unready_but_leave_it_alive()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync();

        // Remote mode against a gateway address nobody listens on: every batch fails as a transport failure, retried
        // in process. Kubernetes restarts on /alive; a restart cannot bring the filter services back.
        using var processor = await RunningProcessor.StartAsync(broker, new()
        {
            ["FILTER_MODE"] = "remote",
            ["FILTER_GATEWAY_URL"] = $"http://127.0.0.1:{DevBrokerProcess.FreePort()}",
            ["Processor__MaxBatchAttempts"] = "1",
        });
        using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            var chunk = new SampleChunk("unreachable-filter", 0, new double[] { 0.1, 0.2, 0.3 }, 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            await producer.ProduceAsync("sample-input", SampleCodec.ToMessage(chunk)).WaitAsync(Timeout);
        }

        // The health check's reason is in its error log line, written when /health is asked.
        await Poll.UntilAsync(() => processor.Status("/health") == HttpStatusCode.ServiceUnavailable && processor.Output.Contains("Processor:MaxBatchAttempts", StringComparison.Ordinal),
            Timeout, () => $"/health to say the batch failed; output:{Environment.NewLine}{processor.Output}");
        Assert.Contains("Batch failed (", processor.Output);
        Assert.Equal(HttpStatusCode.OK, processor.Status("/alive"));
    }

    [Fact]
    public async Task A_Kafka_error_at_the_stream_threads_start_is_retried_unready_and_it_starts_once_the_error_is_gone()
    {
        using var broker = await DevBrokerProcess.StartHealthyAsync("--DevBroker:FaultInjection=true");
        var faults = new DevBrokerFaults(broker.Http);

        // The stream-config reader catches up; then the stream thread's look-up of the output topic meets the error (on a
        // real cluster: a topic just created, a coordinator not yet up, a broker restarting under a fresh deployment).
        await faults.SetTopicErrorAsync("sample-output", ErrorCode.LeaderNotAvailable);
        using var processor = await RunningProcessor.StartAsync(broker, []);

        // Until 2026-12-03 the first failed start exited 1, and Kubernetes' back-off then outlasted the cluster's start.
        await Poll.UntilAsync(() => processor.Output.Contains("could not start (attempt 2;", StringComparison.Ordinal) || processor.HasExited, Timeout,
            () => $"a second start; output:{Environment.NewLine}{processor.Output}");
        processor.AssertRunning();
        Assert.Contains("Leader not available", processor.Output);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, processor.Status("/health"));
        Assert.Equal(HttpStatusCode.OK, processor.Status("/alive"));

        await faults.ClearAsync();
        await Poll.UntilAsync(() => processor.Status("/health") == HttpStatusCode.OK || processor.HasExited, Timeout,
            () => $"/health to turn healthy once the error is gone; output:{Environment.NewLine}{processor.Output}");
        processor.AssertRunning();
        Assert.Contains("Filtering sample-input -> sample-output", processor.Output);
    }

    /// <summary>The built processor against <c>broker</c>, listening on a free port; killed when disposed.</summary>
    private sealed class RunningProcessor : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        private RunningProcessor(Process process)
        {
            _process = process;
            DataReceivedEventHandler append = (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
            process.OutputDataReceived += append;
            process.ErrorDataReceived += append;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(10) };

        public string Output { get { lock (_output) { return _output.ToString(); } } }

        public bool HasExited => _process.HasExited;

        public static async Task<RunningProcessor> StartAsync(DevBrokerProcess broker, Dictionary<string, string> environment)
        {
            var start = ExternalProcess.Command("dotnet", RepositoryLayout.OutputAssembly("FilterKafkaProcessor"));
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            start.Environment["DOTNET_ENVIRONMENT"] = "Production";
            start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
            start.Environment["ConnectionStrings__kafka"] = broker.BootstrapServers;
            foreach (var (name, value) in environment)
            {
                start.Environment[name] = value;
            }

            var processor = new RunningProcessor(Process.Start(start) ?? throw new InvalidOperationException("The processor did not start."));
            try
            {
                Uri? address = null;
                await Poll.UntilAsync(() => (address = ListeningAddress(processor.Output)) is not null || processor.HasExited, Timeout,
                    () => $"the processor to listen; output:{Environment.NewLine}{processor.Output}");
                processor.AssertRunning();
                processor.Http.BaseAddress = address;
                return processor;
            }
            catch
            {
                processor.Dispose();
                throw;
            }
        }

        public void AssertRunning()
        {
            if (_process.HasExited)
            {
                Assert.Fail($"the processor exited ({_process.ExitCode}); output:{Environment.NewLine}{Output}");
            }
        }

        public HttpStatusCode? Status(string path) => ProcessorProcessTests.Status(Http, path);

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
            Http.Dispose();
        }
    }

    private static Uri? ListeningAddress(string output)
        => Regex.Match(output, @"Now listening on: (http://\S+)") is { Success: true } found ? new Uri(found.Groups[1].Value) : null;

    private static HttpStatusCode? Status(HttpClient http, string path)
    {
        try
        {
            using var response = http.GetAsync(path).GetAwaiter().GetResult();
            return response.StatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }
}
