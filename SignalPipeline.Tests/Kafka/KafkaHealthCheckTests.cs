using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.Kafka;

/// <summary>
/// The readiness check with every broker away: one metadata request at a time, whatever the number of probes, and a
/// result answered again for <see cref="KafkaHealthCheck.Fresh"/> (docs/kafka.md, "Client setup").
/// </summary>
public sealed class KafkaHealthCheckTests
{
    [Fact]
    public async Task A_flood_of_checks_with_Kafka_away_makes_one_metadata_request_and_a_fresh_result_is_answered_again()
    {
        var clock = new FakeTimeProvider();
        using var check = new KafkaHealthCheck(KafkaTestClients.CreateFactory("127.0.0.1:1"), clock);

        // 64 probes at once (a client asking /health ten times a second while each request waits its 2 s timeout, or
        // more): before, 64 requests, each blocking a thread-pool thread.
        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => check.CheckHealthAsync(new())))
            .WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(results, result => Assert.Equal(HealthStatus.Unhealthy, result.Status));
        Assert.Contains("127.0.0.1:1", results[0].Description);
        Assert.Equal(1, check.Requests);

        // Within a second of that answer, it is the answer; after it, a new request.
        clock.Advance(KafkaHealthCheck.Fresh - TimeSpan.FromMilliseconds(1));
        Assert.Same(results[0].Exception, (await check.CheckHealthAsync(new()).WaitAsync(TimeSpan.FromSeconds(30))).Exception);
        Assert.Equal(1, check.Requests);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(HealthStatus.Unhealthy, (await check.CheckHealthAsync(new()).WaitAsync(TimeSpan.FromSeconds(30))).Status);
        Assert.Equal(2, check.Requests);
    }
}
