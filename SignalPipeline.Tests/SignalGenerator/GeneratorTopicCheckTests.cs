using Microsoft.Extensions.Hosting;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.SignalGenerator;

/// <summary>
/// The generator's start-up topic check (docs/kafka.md, "Checked at start") on a broker that auto-creates topics on
/// first use, as the dev broker and Apache Kafka do by default: the check must run before the first record is produced,
/// or that record creates the topic and the check finds it in place.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class GeneratorTopicCheckTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_missing_topic_stops_the_start_naming_it_and_nothing_creates_it()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            using var host = GeneratorMetricsTests.Build(cluster, ("Generator:Topic", "gentest3"), ("Generator:MaxChunks", "0"));
            await host.StartAsync().WaitAsync(Patience);
        });

        Assert.Contains("topic 'gentest3' (INPUT_TOPIC) does not exist", error.Message);
        // Asked for all topics, not this one by name: a metadata request naming it would create it.
        using var admin = KafkaTestClients.CreateFactory(cluster.BootstrapServers).CreateAdminClient();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == "gentest3");
    }
}
