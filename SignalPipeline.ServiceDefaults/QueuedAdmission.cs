using System.Threading.RateLimiting;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// A slot of a <see cref="ConcurrencyLimiter"/> taken at once, or after waiting at most a queue timeout: the admission
/// of the filter service's lanes and the gateway's lane for large bodies (docs/filter-api.md).
/// </summary>
public static class QueuedAdmission
{
    /// <summary>
    /// The lease: acquired at once, or within <paramref name="queueTimeout"/> when <paramref name="mayQueue"/>; not
    /// acquired when it could not wait (no queue, or the queue full); null when the wait ran out or the client left
    /// (<paramref name="requestAborted"/>). <paramref name="queued"/> is told +1 when
    /// the request starts waiting and -1 when it stops.
    /// </summary>
    public static async Task<RateLimitLease?> AcquireWithinAsync(
        this ConcurrencyLimiter limiter, bool mayQueue, TimeSpan queueTimeout, CancellationToken requestAborted, Action<int>? queued = null)
    {
        var lease = limiter.AttemptAcquire();
        if (lease.IsAcquired || !mayQueue || queueTimeout == TimeSpan.Zero)
        {
            return lease;
        }

        lease.Dispose();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        timeout.CancelAfter(queueTimeout);
        queued?.Invoke(1);
        try
        {
            return await limiter.AcquireAsync(1, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        finally
        {
            queued?.Invoke(-1);
        }
    }

    /// <summary>Why a request got no slot, for its 503: it waited <paramref name="queueTimeout"/> in vain, or could not wait.</summary>
    public static string NoSlotReason(RateLimitLease? lease, TimeSpan queueTimeout, string timeoutSetting, int queueLimit, string queueSetting)
        => lease is null
            ? $"no slot freed within {queueTimeout.TotalSeconds:0.###} s ({timeoutSetting}, queue of {queueLimit}, {queueSetting})"
            : queueLimit == 0 || queueTimeout == TimeSpan.Zero
                ? $"no request may wait for one ({queueSetting} = {queueLimit}, {timeoutSetting} = {queueTimeout.TotalSeconds:0.###} s)"
                : $"the queue of {queueLimit} waiting requests is full ({queueSetting})";
}
