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
        var start = ExternalProcess.Command("dotnet", RepositoryLayout.OutputAssembly("FilterKafkaProcessor"));
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["ConnectionStrings__kafka"] = broker.BootstrapServers;
        start.Environment["FILTER_MODE"] = "remote";
        start.Environment["FILTER_GATEWAY_URL"] = $"http://127.0.0.1:{DevBrokerProcess.FreePort()}";
        start.Environment["Processor__MaxBatchAttempts"] = "1";
        using var processor = Process.Start(start) ?? throw new InvalidOperationException("The processor did not start.");
        var output = new StringBuilder();
        DataReceivedEventHandler append = (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        processor.OutputDataReceived += append;
        processor.ErrorDataReceived += append;
        processor.BeginOutputReadLine();
        processor.BeginErrorReadLine();
        string Output() { lock (output) { return output.ToString(); } }

        try
        {
            Uri? address = null;
            await Poll.UntilAsync(() => (address = ListeningAddress(Output())) is not null || processor.HasExited, Timeout,
                () => $"the processor to listen; output:{Environment.NewLine}{Output()}");
            Assert.False(processor.HasExited, $"the processor exited; output:{Environment.NewLine}{Output()}");
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };

            using (var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
            {
                var chunk = new SampleChunk("unreachable-filter", 0, new double[] { 0.1, 0.2, 0.3 }, 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                await producer.ProduceAsync("sample-input", SampleCodec.ToMessage(chunk)).WaitAsync(Timeout);
            }

            // The health check's reason is in its error log line, written when /health is asked.
            await Poll.UntilAsync(() => Status(http, "/health") == HttpStatusCode.ServiceUnavailable && Output().Contains("Processor:MaxBatchAttempts", StringComparison.Ordinal),
                Timeout, () => $"/health to say the batch failed; output:{Environment.NewLine}{Output()}");
            Assert.Contains("Batch failed (", Output());
            Assert.Equal(HttpStatusCode.OK, Status(http, "/alive"));
        }
        finally
        {
            if (!processor.HasExited)
            {
                processor.Kill(entireProcessTree: true);
            }
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
