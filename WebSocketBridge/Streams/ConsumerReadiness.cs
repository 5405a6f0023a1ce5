using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace WebSocketBridge.Streams;

/// <summary>
/// Whether the Kafka loop reads its topic. <c>/health</c> reports ready only once every partition is assigned at a
/// known offset, so a client (or a test) that waits for health sees every chunk produced after that; and, once
/// assigned, unready while the consumer has had errors and no successful fetch for <c>Bridge:ConsumerStallSeconds</c>
/// (the cluster gone, the topic refused or deleted). An idle topic is not a stall: a fetch answered with no records
/// is a successful one.
/// </summary>
/// <remarks>
/// A successful fetch is seen as a record or a partition end (<c>enable.partition.eof</c>) reported with no error
/// within <see cref="Quiet"/> either side of it: librdkafka reports a partition's end and a fetch error of the same
/// response together (measured with the dev broker answering Fetch with TOPIC_AUTHORIZATION_FAILED). While errors
/// are unanswered the loop seeks each partition to where it is (<see cref="SampleOutputConsumer"/>), which makes
/// librdkafka report the end again once a fetch succeeds; nothing else would show an idle partition read again.
/// </remarks>
public sealed class ConsumerReadiness(IOptions<BridgeOptions> options, TimeProvider time) : IHealthCheck
{
    /// <summary>How long a success must stand with no error either side to end a stall.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    private readonly TimeSpan _stallLimit = TimeSpan.FromSeconds(options.Value.ConsumerStallSeconds);
    private readonly Lock _lock = new();
    private HealthCheckResult _phase = HealthCheckResult.Unhealthy("The output-topic consumer has not started.");
    private volatile bool _erring;
    private long _errorSince;
    private long _lastError;
    private string _lastReason = "";
    private long? _candidate;

    /// <summary>Errors have been reported and no successful fetch since: the loop re-arms the partitions' ends.</summary>
    public bool Erring => _erring;

    public void Waiting(string why) => SetPhase(HealthCheckResult.Unhealthy($"The output-topic consumer is waiting: {why}."));

    public void Assigned(string topic, int partitions)
        => SetPhase(HealthCheckResult.Healthy($"Reading {partitions} partition{(partitions == 1 ? "" : "s")} of '{topic}'."));

    public void Fail(string why) => SetPhase(HealthCheckResult.Unhealthy($"The output-topic consumer stopped: {why}"));

    /// <summary>The consumer reported an error (its error handler, or a consume exception).</summary>
    public void FetchFailed(string reason)
    {
        var now = time.GetTimestamp();
        lock (_lock)
        {
            if (!_erring)
            {
                _errorSince = now;
                _erring = true;
            }

            _lastError = now;
            _lastReason = reason;
            _candidate = null;
        }
    }

    /// <summary>A record or a partition end arrived. Cheap when nothing is wrong: called for every record.</summary>
    public void FetchSucceeded()
    {
        if (!_erring)
        {
            return;
        }

        var now = time.GetTimestamp();
        lock (_lock)
        {
            if (_candidate is null && time.GetElapsedTime(_lastError, now) >= Quiet)
            {
                _candidate = now;
            }

            Settle(now);
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var now = time.GetTimestamp();
            Settle(now);
            if (_phase.Status != HealthStatus.Healthy || !_erring)
            {
                return Task.FromResult(_phase);
            }

            var stalled = time.GetElapsedTime(_errorSince, now);
            if (stalled < _stallLimit)
            {
                return Task.FromResult(_phase);
            }

            return Task.FromResult(HealthCheckResult.Unhealthy(
                $"The output-topic consumer has had errors and no successful fetch for {stalled.TotalSeconds:F0} s " +
                $"(Bridge:ConsumerStallSeconds = {_stallLimit.TotalSeconds:F0}); last error: {_lastReason}"));
        }
    }

    /// <summary>Also called by the loop after each poll, so a success is settled without a health request.</summary>
    public void Tick()
    {
        if (!_erring)
        {
            return;
        }

        lock (_lock)
        {
            Settle(time.GetTimestamp());
        }
    }

    // A success with no error for Quiet before it and Quiet after it ends the stall.
    private void Settle(long now)
    {
        if (_candidate is { } since && time.GetElapsedTime(since, now) >= Quiet)
        {
            _erring = false;
            _candidate = null;
        }
    }

    private void SetPhase(HealthCheckResult phase)
    {
        lock (_lock)
        {
            _phase = phase;
        }
    }
}
