using System.Diagnostics;
using Confluent.Kafka;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary>
/// A Kafka client the project did not write (Debian's <c>kcat</c>) against the AppHost's broker: the broker speaks
/// real Kafka and what the project produces is ordinary Kafka data.
/// </summary>
[Collection(AppHostCollection.Name)]
[Trait("Category", TestCategory.AppHost)]
public sealed class KcatInteropTests(AppHostFixture shared, ITestOutputHelper output)
{
    private readonly AppHostFixture fixture = shared.WithTestOutput(output);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Kcat_lists_the_pipeline_topics()
    {
        var bootstrap = await BootstrapAsync();
        var metadata = await KcatAsync("-b", bootstrap, "-L", "-m", "30");

        foreach (var topic in new[] { "sample-input", "sample-output", "sample-dlq", "filter-kafka-processor-state-changelog" })
        {
            Assert.Contains($"topic \"{topic}\" with ", metadata);
        }
    }

    [Fact]
    public async Task Kcat_reads_what_the_project_produced_with_its_trace_headers()
    {
        var bootstrap = await BootstrapAsync();
        var factory = KafkaTestClients.CreateFactory(bootstrap);
        var runId = KafkaTestClients.NewRunId();
        var partition = new TopicPartition("sample-input", new Partition(5));

        // As in a service with OpenTelemetry tracing on: someone records the producer spans.
        using var tracing = new ActivityListener
        {
            ShouldListenTo = source => source.Name == KafkaTracing.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(tracing);

        using var producer = factory.CreateProducer<string, string>();
        var first = await producer.ProduceTracedAsync(partition, new Message<string, string> { Key = $"{runId}-0", Value = "value-0" }).WaitAsync(Timeout);
        for (var i = 1; i < 5; i++)
        {
            await producer.ProduceTracedAsync(partition, new Message<string, string> { Key = $"{runId}-{i}", Value = $"value-{i}" }).WaitAsync(Timeout);
        }

        var output = await KcatAsync("-b", bootstrap, "-C", "-t", partition.Topic, "-p", "5", "-o", first.Offset.Value.ToString(), "-c", "5", "-e",
            "-f", "%k=%s|%h\\n");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"{runId}-{i}=value-{i}"), lines.Select(l => l.Split('|')[0]));
        Assert.All(lines, line => Assert.Matches(@"\|(.*,)?traceparent=00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", line));
    }

    private async Task<string> BootstrapAsync()
    {
        await fixture.WaitForHealthyAsync("kafka");
        return await fixture.GetConnectionStringAsync("kafka");
    }

    private static async Task<string> KcatAsync(params string[] arguments)
    {
        ExternalProcess.Result result;
        try
        {
            result = await ExternalProcess.RunAsync(ExternalProcess.Command("kcat", arguments), Timeout);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("kcat is not installed; this interop test needs it: apt-get install -y kcat (scripts/test.sh installs it).", ex);
        }

        Assert.True(result.ExitCode == 0, $"kcat {string.Join(' ', arguments)} exited {result.ExitCode}: {result.Error}");
        return result.Output;
    }
}
