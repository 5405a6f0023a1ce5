using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace SignalGenerator;

/// <summary>
/// Readiness from the broker's delivery reports: unhealthy while the latest chunk the broker answered for was refused
/// (a message too large, a topic it refuses, a delivery timed out), healthy again at the next one it acknowledges; and
/// unhealthy while chunks have waited <c>Generator:DeliveryStallSeconds</c> with no answer at all (a broker that serves
/// metadata but takes no chunk: librdkafka retries them until <c>delivery.timeout.ms</c>, 300 s, before refusing any).
/// The <c>kafka</c> check only asks for metadata, so without this a generator whose chunks went nowhere stayed green.
/// Not on <c>/alive</c>: a restart does not make the broker take the chunks.
/// </summary>
public sealed class DeliveryHealth(IOptions<GeneratorOptions> options, TimeProvider time) : IHealthCheck
{
    public const string Name = "deliveries";

    private readonly Lock _gate = new();
    private long _failedInARow;
    private string? _lastError;
    private long _waiting;
    private long _progressTimestamp;

    /// <summary>A chunk was handed to the producer; its delivery report will answer for it.</summary>
    public void Producing()
    {
        if (Interlocked.Increment(ref _waiting) == 1)
        {
            // Nothing was waiting: the wait starts now, not at the last answer.
            Interlocked.Exchange(ref _progressTimestamp, time.GetTimestamp());
        }
    }

    /// <summary>A chunk announced by <see cref="Producing"/> was not handed over after all.</summary>
    public void NotProduced() => Interlocked.Decrement(ref _waiting);

    /// <summary>The broker acknowledged a chunk; the number of refusals it ends (0: none were going on).</summary>
    public long Delivered()
    {
        Answered();
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
        Answered();
        lock (_gate)
        {
            _lastError = error;
            return Interlocked.Increment(ref _failedInARow) == 1;
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var waiting = Interlocked.Read(ref _waiting);
        var stalled = waiting > 0 ? time.GetElapsedTime(Interlocked.Read(ref _progressTimestamp)) : TimeSpan.Zero;
        var limit = options.Value.DeliveryStallSeconds;
        lock (_gate)
        {
            if (_failedInARow > 0)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy($"The last {_failedInARow} chunks were not delivered: {_lastError}"));
            }

            return Task.FromResult(stalled.TotalSeconds > limit
                ? HealthCheckResult.Unhealthy(
                    $"{waiting} chunks have had no answer from the broker (delivered or refused) for {stalled.TotalSeconds:0} s "
                    + $"(Generator:DeliveryStallSeconds = {limit}): the broker takes no chunks")
                : HealthCheckResult.Healthy("The latest chunk was delivered (or none was produced yet)."));
        }
    }

    private void Answered()
    {
        Interlocked.Decrement(ref _waiting);
        Interlocked.Exchange(ref _progressTimestamp, time.GetTimestamp());
    }
}
