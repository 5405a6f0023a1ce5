using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using SignalGenerator;
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

    [Fact]
    public async Task A_topic_deleted_while_it_runs_is_not_created_again_and_the_chunks_for_it_are_delivery_errors()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);
        using var host = GeneratorMetricsTests.Build(cluster, ("Generator:MaxChunks", "0"), ("Generator:Rate", "2000"),
            ("Kafka:Producer:message.timeout.ms", "3000"));
        using var chunks = GeneratorMetricsTests.Collect<long>(host, "chunks");
        using var errors = GeneratorMetricsTests.Collect<long>(host, "delivery_errors");
        await host.StartAsync().WaitAsync(Patience);
        await Poll.UntilAsync(() => chunks.Sum() > 0, Patience, () => "chunks produced");

        cluster.DeleteTopic(PipelineTopics.DefaultInput);

        // With librdkafka's producer default (allow.auto.create.topics=true) the mock's Metadata created it again.
        await Poll.UntilAsync(() => errors.Sum() > 0, Patience, () => $"delivery errors after the deletion (chunks {chunks.Sum()})");
        var health = host.Services.GetRequiredService<DeliveryHealth>();
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);
        using var admin = KafkaTestClients.CreateFactory(cluster.BootstrapServers).CreateAdminClient();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics, t => t.Topic == PipelineTopics.DefaultInput);
        await host.StopAsync().WaitAsync(Patience);
    }
}
