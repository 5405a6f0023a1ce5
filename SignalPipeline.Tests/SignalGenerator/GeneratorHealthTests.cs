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
    public Task Health_is_unhealthy_while_the_broker_refuses_every_chunk_and_healthy_again_once_it_takes_them()
        // Non-retriable: each produce request's chunks fail delivery at once; metadata is still served.
        => UnhealthyUntilTheBrokerTakesChunks(ErrorCode.MsgSizeTooLarge, "while every chunk is refused",
            deliveries => Assert.Contains("Message size too large", deliveries.Description));

    [Fact]
    public Task Health_is_unhealthy_while_chunks_have_no_answer_for_DeliveryStallSeconds_and_healthy_again_once_the_broker_takes_them()
        // Retriable: librdkafka retries each produce request until delivery.timeout.ms (300 s), so no chunk is answered,
        // delivered or refused, while metadata is still served (the kafka check stays green).
        => UnhealthyUntilTheBrokerTakesChunks(ErrorCode.NotEnoughReplicas, "while no chunk is answered", deliveries =>
        {
            Assert.Contains("no answer from the broker", deliveries.Description);
            Assert.Contains("(Generator:DeliveryStallSeconds = 2)", deliveries.Description);
        }, ("Generator:DeliveryStallSeconds", "2"));

    private static async Task UnhealthyUntilTheBrokerTakesChunks(ErrorCode produceError, string why, Action<HealthReportEntry> checkDeliveries, params (string Key, string Value)[] settings)
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);
        cluster.PushRequestErrors(KafkaApi.Produce, Enumerable.Repeat(produceError, 100_000).ToArray());
        using var host = GeneratorMetricsTests.Build(cluster, [("Generator:MaxChunks", "0"), ("Generator:Rate", "1600"), .. settings]);
        var health = host.Services.GetRequiredService<HealthCheckService>();
        await host.StartAsync().WaitAsync(Patience);

        HealthReport? report = null;
        await Poll.UntilAsync(() => (report = health.CheckHealthAsync().GetAwaiter().GetResult()).Status == HealthStatus.Unhealthy,
            Patience, () => $"/health to turn unhealthy {why} (got {Describe(report)})");
        Assert.Equal(HealthStatus.Healthy, report!.Entries["kafka"].Status);
        Assert.Equal(HealthStatus.Unhealthy, report.Entries["deliveries"].Status);
        checkDeliveries(report.Entries["deliveries"]);

        // /alive (the checks tagged live, as MapDefaultEndpoints maps it) stays healthy meanwhile: docs/operations.md's
        // table says the generator's liveness never fails, since a restart does not make the broker take the chunks.
        var alive = await health.CheckHealthAsync(r => r.Tags.Contains("live")).WaitAsync(Patience);
        Assert.Equal(HealthStatus.Healthy, alive.Status);
        Assert.DoesNotContain("deliveries", alive.Entries.Keys);

        cluster.ClearRequestErrors(KafkaApi.Produce);
        await Poll.UntilAsync(() => (report = health.CheckHealthAsync().GetAwaiter().GetResult()).Status == HealthStatus.Healthy,
            Patience, () => $"/health to be healthy again once the broker takes chunks (got {Describe(report)})");
        await host.StopAsync().WaitAsync(Patience);
    }

    private static string Describe(HealthReport? report)
        => report is null ? "no report" : string.Join("; ", report.Entries.Select(e => $"{e.Key}: {e.Value.Status} {e.Value.Description}"));
}
