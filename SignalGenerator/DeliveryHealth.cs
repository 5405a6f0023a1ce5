using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SignalGenerator;

/// <summary>
/// Readiness from the broker's delivery reports: unhealthy while the latest chunk the broker answered for was refused
/// (a message too large, a topic it refuses, a delivery timed out), healthy again at the next one it acknowledges. The
/// <c>kafka</c> check only asks for metadata, so without this a generator whose every chunk is refused stayed green.
/// Not on <c>/alive</c>: a restart does not make the broker take the chunks.
/// </summary>
public sealed class DeliveryHealth : IHealthCheck
{
    public const string Name = "deliveries";

    private readonly Lock _gate = new();
    private long _failedInARow;
    private string? _lastError;

    /// <summary>The broker acknowledged a chunk; the number of refusals it ends (0: none were going on).</summary>
    public long Delivered()
    {
        // Called for every acknowledged chunk: no lock while nothing was refused.
        if (Interlocked.Read(ref _failedInARow) == 0)
        {
            return 0;
        }

        lock (_gate)
        {
            return Interlocked.Exchange(ref _failedInARow, 0);
        }
    }

    /// <summary>A chunk was refused; true when it is the first since the last acknowledged one.</summary>
    public bool Failed(string error)
    {
        lock (_gate)
        {
            _lastError = error;
            return Interlocked.Increment(ref _failedInARow) == 1;
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_failedInARow == 0
                ? HealthCheckResult.Healthy("The latest chunk was delivered (or none was produced yet).")
                : HealthCheckResult.Unhealthy($"The last {_failedInARow} chunks were not delivered: {_lastError}"));
        }
    }
}
