using System.Net;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The bridge's readiness check <c>output-topic-consumer</c> (docs/websocket-bridge.md, "Reading Kafka"; docs/operations.md,
/// "Health probes"): unready once the consumer has had errors and no successful fetch for Bridge:ConsumerStallSeconds,
/// ready again once reads succeed; an idle topic is ready; <c>/alive</c> stays green throughout.
/// </summary>
public sealed class BridgeConsumerReadinessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string CheckName = "output-topic-consumer";

    [Fact]
    [Trait("Category", TestCategory.Integration)]
    public async Task Refused_fetches_or_brokers_down_make_the_bridge_unready_after_ConsumerStallSeconds_and_it_is_ready_again_when_reads_succeed()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        await using var bridge = await BridgeKafkaMetricsTests.StartBridgeAsync(cluster, ("Bridge:ConsumerStallSeconds", "2"));
        using var http = bridge.CreateClient();
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");

        // Idle (nothing produced) for three times the bound: fetches answered with no records are not a stall.
        await Task.Delay(TimeSpan.FromSeconds(6));
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");

        // Every fetch refused (as a real cluster answers a consumer whose READ permission was taken away); metadata,
        // and so the `kafka` check, stay fine: only the consumer's own check can see this.
        cluster.PushRequestErrors(KafkaApi.Fetch, Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 100_000).ToArray());
        await UntilAsync(bridge, http, HttpStatusCode.ServiceUnavailable, HealthStatus.Unhealthy,
            "has had errors and no successful fetch", "(Bridge:ConsumerStallSeconds = 2)", "TopicAuthorizationFailed");
        await AssertAliveAsync(http);

        cluster.ClearRequestErrors(KafkaApi.Fetch);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");

        cluster.SetBrokerDown(MockKafkaCluster.AllBrokers);
        await UntilAsync(bridge, http, HttpStatusCode.ServiceUnavailable, HealthStatus.Unhealthy,
            "has had errors and no successful fetch", "(Bridge:ConsumerStallSeconds = 2)", "Local_");
        await AssertAliveAsync(http);

        cluster.SetBrokerUp(MockKafkaCluster.AllBrokers);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
    }

    [Fact]
    [Trait("Category", TestCategory.Integration)]
    public async Task A_ListOffsets_error_at_start_is_retried_with_a_warning_naming_it_and_the_bridge_becomes_ready()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        // The bridge's first two end-offset queries refused with an error librdkafka does not retry by itself (an
        // UNKNOWN_TOPIC_OR_PART once it retries, so the bridge never sees it): before, the first stopped the bridge.
        cluster.PushRequestErrors(KafkaApi.ListOffsets, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);
        var log = new ErrorLog(LogLevel.Warning);
        await using var bridge = await BridgeKafkaMetricsTests.StartBridgeAsync(cluster, log);
        using var http = bridge.CreateClient();

        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
        Assert.Contains(log.Entries, e => e.Contains($"Reading the end offsets of {PipelineTopics.DefaultOutput} failed (TopicAuthorizationFailed"));
        Assert.DoesNotContain(log.Entries, e => e.Contains("stopped"));
    }

    /// <summary>Polls <c>/health</c> and the consumer's check until both show the expected state.</summary>
    private static async Task UntilAsync(InProcessHost bridge, HttpClient http, HttpStatusCode status, HealthStatus check, params string[] description)
    {
        var health = bridge.App.Services.GetRequiredService<HealthCheckService>();
        var seen = "";
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var response = await http.GetAsync("/health").WaitAsync(Patience);
            var report = await health.CheckHealthAsync(r => r.Name == CheckName).WaitAsync(Patience);
            var entry = report.Entries[CheckName];
            seen = $"/health {(int)response.StatusCode}, {CheckName} {entry.Status}: {entry.Description}";
            if (response.StatusCode == status && entry.Status == check && description.All(d => entry.Description?.Contains(d) == true))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"waited {Patience.TotalSeconds:0} s for /health {(int)status} and {check} with '{string.Join("', '", description)}'; last seen: {seen}");
            await Task.Delay(200);
        }
    }

    private static async Task AssertAliveAsync(HttpClient http)
    {
        using var alive = await http.GetAsync("/alive").WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }
}
