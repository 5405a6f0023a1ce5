using FilterKafkaProcessor;
using FilterKafkaProcessor.Streaming;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// What readiness (<c>/health</c>) and liveness (<c>/alive</c>) say about the stream thread (docs/processor.md, "Broker
/// and transport failures"; docs/operations.md, "Health probes"): Kafka or the filter services away make it unready,
/// only a step that never returns gets it restarted.
/// </summary>
public sealed class ProcessorHealthTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(20_000));
    private readonly ProcessorOptions _options = new() { MaxBatchAttempts = 3, StuckPartitionSeconds = 120 };

    [Fact]
    public void A_failed_start_is_named_by_readiness_until_the_thread_runs_and_liveness_stays_healthy()
    {
        var health = new ProcessorHealth(_options, _time);
        Assert.Equal("The stream processor is not running.", health.Check().Description);

        health.StartFailed("LeaderNotAvailable: topic 'sample-output': Broker: Leader not available");
        var ready = health.Check();
        Assert.Equal(HealthStatus.Unhealthy, ready.Status);
        Assert.Contains("its start failed (LeaderNotAvailable: topic 'sample-output'", ready.Description);
        Assert.Equal(HealthStatus.Healthy, health.CheckLiveness().Status);

        health.Running(true);
        Assert.Equal(HealthStatus.Healthy, health.Check().Status);

        // Stopped after running: no stale start failure.
        health.Running(false);
        Assert.Equal("The stream processor is not running.", health.Check().Description);
    }

    [Fact]
    public void Failing_batches_and_a_stuck_partition_make_it_unready_but_not_dead()
    {
        var health = new ProcessorHealth(_options, _time);
        health.Running(true);
        for (var i = 0; i < _options.MaxBatchAttempts; i++)
        {
            health.BatchFailed("transport: the gateway did not answer");
        }

        Assert.Equal(HealthStatus.Unhealthy, health.Check().Status);
        Assert.Equal(HealthStatus.Healthy, health.CheckLiveness().Status);

        health.BatchCommitted();
        health.Pending(_time.GetUtcNow().ToUnixTimeMilliseconds());
        _time.Advance(TimeSpan.FromSeconds(_options.StuckPartitionSeconds + 1));
        Assert.Contains("without a commit", health.Check().Description);
        Assert.Equal(HealthStatus.Healthy, health.CheckLiveness().Status);
    }

    [Fact]
    public void A_step_that_never_returns_fails_both()
    {
        var health = new ProcessorHealth(_options, _time);
        health.Running(true);
        health.StepStarted(_time.GetUtcNow().ToUnixTimeMilliseconds());
        _time.Advance(TimeSpan.FromSeconds(_options.StuckPartitionSeconds + 1));

        Assert.Equal(HealthStatus.Unhealthy, health.Check().Status);
        var alive = health.CheckLiveness();
        Assert.Equal(HealthStatus.Unhealthy, alive.Status);
        Assert.Contains("in one step for 121 s", alive.Description);

        health.StepEnded();
        Assert.Equal(HealthStatus.Healthy, health.CheckLiveness().Status);
    }
}
