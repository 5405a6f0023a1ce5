using SignalPipeline.Tests.DevBroker;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The built processor as its own process, against the dev broker process: how it stops when it cannot run.</summary>
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
}
