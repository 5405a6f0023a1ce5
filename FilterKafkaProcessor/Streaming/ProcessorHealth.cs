using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// What <c>/health</c> (readiness) and <c>/alive</c> (liveness) say about the stream thread, published by the thread
/// and read by the health checks. Readiness (<see cref="Check"/>) is unhealthy while the thread is not running, when the
/// same batch failed <c>MaxBatchAttempts</c> times in a row, when a partition has had input (or waited for its restore)
/// longer than <c>StuckPartitionSeconds</c> without a commit, or when one step of the thread has lasted longer than that.
/// Liveness (<see cref="CheckLiveness"/>) is only the last: a call that never returns outside the commit is freed only by a
/// restart (a commit's own hung call, librdkafka#5456, is given up by <see cref="RecordCollector.HasHungCall"/> first),
/// while failing batches (Kafka or the filter services away) are retried in process and a restart would only add a
/// rebalance and a restore to the outage.
/// </summary>
public sealed class ProcessorHealth(ProcessorOptions options, TimeProvider time)
{
    private volatile bool _running;
    private volatile int _failures;
    private volatile string? _lastFailure;
    private volatile string? _startFailure;
    private long _oldestPendingMs = long.MaxValue;
    private long _stepStartedMs = long.MaxValue;

    public bool IsRunning => _running;

    public void Running(bool running)
    {
        _running = running;
        if (running)
        {
            _startFailure = null;
        }
    }

    /// <summary>Why the last start of the stream thread failed (it is tried again), for the not-running answer.</summary>
    public void StartFailed(string why) => _startFailure = why;

    public void BatchFailed(string why)
    {
        _lastFailure = why;
        _failures++;
    }

    public void BatchCommitted() => _failures = 0;

    public int ConsecutiveFailures => _failures;

    /// <summary>The oldest moment some partition has waited since (input read or restore begun) without a commit.</summary>
    public void Pending(long? oldestMs) => Interlocked.Exchange(ref _oldestPendingMs, oldestMs ?? long.MaxValue);

    /// <summary>A step of the stream thread begins (<see cref="StepEnded"/> when it is over).</summary>
    public void StepStarted(long nowMs) => Interlocked.Exchange(ref _stepStartedMs, nowMs);

    public void StepEnded() => Interlocked.Exchange(ref _stepStartedMs, long.MaxValue);

    public HealthCheckResult Check()
    {
        if (!_running)
        {
            return HealthCheckResult.Unhealthy(_startFailure is { } why
                ? $"The stream processor is not running: its start failed ({why}); trying again."
                : "The stream processor is not running.");
        }

        if (_failures >= options.MaxBatchAttempts)
        {
            return HealthCheckResult.Unhealthy(
                $"The same batch failed {_failures} times in a row (Processor:MaxBatchAttempts = {options.MaxBatchAttempts}); last: {_lastFailure}");
        }

        // One bound for both waits: a partition's, published between steps, and the current step's own (a step that never
        // ends would leave the last published, maybe healthy, value).
        if (StalledStep() is { } stalled)
        {
            return stalled;
        }

        var waited = Age(Interlocked.Read(ref _oldestPendingMs), time.GetUtcNow().ToUnixTimeMilliseconds());
        var limitMs = options.StuckPartitionSeconds * 1000L;
        return waited > limitMs
            ? HealthCheckResult.Unhealthy(
                $"A partition has had input for {waited / 1000} s without a commit (Processor:StuckPartitionSeconds = {options.StuckPartitionSeconds}); last failure: {_lastFailure ?? "none"}")
            : HealthCheckResult.Healthy($"Consuming {options.InputTopic}");
    }

    /// <summary>Liveness: unhealthy only while one step has lasted longer than <c>StuckPartitionSeconds</c>.</summary>
    public HealthCheckResult CheckLiveness()
        => StalledStep() ?? HealthCheckResult.Healthy(_running ? "The stream thread is stepping." : "The stream thread is not running.");

    private HealthCheckResult? StalledStep()
    {
        var inStep = Age(Interlocked.Read(ref _stepStartedMs), time.GetUtcNow().ToUnixTimeMilliseconds());
        return inStep > options.StuckPartitionSeconds * 1000L
            ? HealthCheckResult.Unhealthy(
                $"The stream thread has been in one step for {inStep / 1000} s (Processor:StuckPartitionSeconds = {options.StuckPartitionSeconds}): a Kafka call or a filter that does not return; last failure: {_lastFailure ?? "none"}")
            : null;
    }

    /// <summary>Milliseconds since <paramref name="sinceMs"/>; 0 for <see cref="long.MaxValue"/> (nothing is waiting).</summary>
    private static long Age(long sinceMs, long nowMs) => sinceMs == long.MaxValue ? 0 : nowMs - sinceMs;
}
