using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using WebSocketBridge;
using WebSocketBridge.Streams;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// <see cref="ConsumerReadiness"/> with the bridge's clock replaced: when errors make the consumer's check unready and
/// what counts as a successful fetch again.
/// </summary>
public sealed class ConsumerReadinessTests
{
    [Fact]
    public async Task Errors_for_less_than_ConsumerStallSeconds_keep_it_ready_and_longer_make_it_unready_naming_the_last_error()
    {
        var (readiness, time) = Assigned(stallSeconds: 30);

        readiness.FetchFailed("Local_Transport: connection refused");
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(readiness)).Status);

        readiness.FetchFailed("Local_AllBrokersDown: 1/1 brokers are down");
        time.Advance(TimeSpan.FromSeconds(1));
        var result = await CheckAsync(readiness);
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Equal("The output-topic consumer has had errors and no successful fetch for 30 s (Bridge:ConsumerStallSeconds = 30); " +
            "last error: Local_AllBrokersDown: 1/1 brokers are down", result.Description);
    }

    [Fact]
    public async Task A_fetch_answered_with_no_error_around_it_ends_the_stall_and_one_answered_with_an_error_does_not()
    {
        var (readiness, time) = Assigned(stallSeconds: 5);
        readiness.FetchFailed("TopicAuthorizationFailed: Fetch from broker 1 failed");
        time.Advance(TimeSpan.FromSeconds(10));

        // librdkafka reports a partition's end and the same response's fetch error together: not a success.
        readiness.FetchSucceeded();
        readiness.FetchFailed("TopicAuthorizationFailed: Fetch from broker 1 failed");
        time.Advance(TimeSpan.FromSeconds(2));
        readiness.Tick();
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(readiness)).Status);

        // A partition end with no error for a second either side of it: reads succeed again.
        readiness.FetchSucceeded();
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(readiness)).Status);
        time.Advance(ConsumerReadiness.Quiet);
        var result = await CheckAsync(readiness);
        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal("Reading 2 partitions of 'sample-output'.", result.Description);
        Assert.False(readiness.Erring);
    }

    private static (ConsumerReadiness Readiness, FakeTimeProvider Time) Assigned(int stallSeconds)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        var readiness = new ConsumerReadiness(Options.Create(new BridgeOptions { ConsumerStallSeconds = stallSeconds }), time);
        readiness.Assigned("sample-output", 2);
        return (readiness, time);
    }

    private static Task<HealthCheckResult> CheckAsync(ConsumerReadiness readiness)
        => readiness.CheckHealthAsync(new HealthCheckContext());
}
