using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.SignalGenerator;

/// <summary>
/// The generator's readiness (<c>/health</c>: every registered check) while the broker answers metadata but refuses
/// every chunk: the state in which the <c>kafka</c> check alone stayed green while nothing reached the input topic.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class GeneratorHealthTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Health_is_unhealthy_while_the_broker_refuses_every_chunk_and_healthy_again_once_it_takes_them()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);
        // Non-retriable: each produce request's chunks fail delivery at once; metadata is still served.
        cluster.PushRequestErrors(KafkaApi.Produce, Enumerable.Repeat(ErrorCode.MsgSizeTooLarge, 100_000).ToArray());
        using var host = GeneratorMetricsTests.Build(cluster, ("Generator:MaxChunks", "0"), ("Generator:Rate", "1600"));
        var health = host.Services.GetRequiredService<HealthCheckService>();
        await host.StartAsync().WaitAsync(Patience);

        HealthReport? report = null;
        await Poll.UntilAsync(() => (report = health.CheckHealthAsync().GetAwaiter().GetResult()).Status == HealthStatus.Unhealthy,
            Patience, () => $"/health to turn unhealthy while every chunk is refused (got {Describe(report)})");
        Assert.Equal(HealthStatus.Healthy, report!.Entries["kafka"].Status);
        Assert.Equal(HealthStatus.Unhealthy, report.Entries["deliveries"].Status);
        Assert.Contains("Message size too large", report.Entries["deliveries"].Description);

        cluster.ClearRequestErrors(KafkaApi.Produce);
        await Poll.UntilAsync(() => (report = health.CheckHealthAsync().GetAwaiter().GetResult()).Status == HealthStatus.Healthy,
            Patience, () => $"/health to be healthy again once the broker takes chunks (got {Describe(report)})");
        await host.StopAsync().WaitAsync(Patience);
    }

    [Fact]
    public async Task Health_is_unhealthy_while_chunks_have_no_answer_for_DeliveryStallSeconds_and_healthy_again_once_the_broker_takes_them()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);
        // Retriable: librdkafka retries each produce request until delivery.timeout.ms (300 s), so no chunk is answered,
        // delivered or refused, while metadata is still served (the kafka check stays green).
        cluster.PushRequestErrors(KafkaApi.Produce, Enumerable.Repeat(ErrorCode.NotEnoughReplicas, 100_000).ToArray());
        using var host = GeneratorMetricsTests.Build(cluster, ("Generator:MaxChunks", "0"), ("Generator:Rate", "1600"), ("Generator:DeliveryStallSeconds", "2"));
        var health = host.Services.GetRequiredService<HealthCheckService>();
        await host.StartAsync().WaitAsync(Patience);

        HealthReport? report = null;
        await Poll.UntilAsync(() => (report = health.CheckHealthAsync().GetAwaiter().GetResult()).Status == HealthStatus.Unhealthy,
            Patience, () => $"/health to turn unhealthy while no chunk is answered (got {Describe(report)})");
        Assert.Equal(HealthStatus.Healthy, report!.Entries["kafka"].Status);
        Assert.Contains("no answer from the broker", report.Entries["deliveries"].Description);
        Assert.Contains("(Generator:DeliveryStallSeconds = 2)", report.Entries["deliveries"].Description);

        cluster.ClearRequestErrors(KafkaApi.Produce);
        await Poll.UntilAsync(() => (report = health.CheckHealthAsync().GetAwaiter().GetResult()).Status == HealthStatus.Healthy,
            Patience, () => $"/health to be healthy again once the broker takes chunks (got {Describe(report)})");
        await host.StopAsync().WaitAsync(Patience);
    }

    private static string Describe(HealthReport? report)
        => report is null ? "no report" : string.Join("; ", report.Entries.Select(e => $"{e.Key}: {e.Value.Status} {e.Value.Description}"));
}
