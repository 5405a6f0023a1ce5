namespace WebSocketBridge.Streams;

/// <summary>
/// The samples all streams hold together between two frames (<c>Bridge:MaxPendingSamples</c>): each stream is bounded
/// by <c>Bridge:MaxPendingSamplesPerStream</c>, but many streams with large chunks at once (a backlog read after a
/// restart, a producer sending million-sample chunks on many streams) would add up without this.
/// </summary>
public sealed class PendingBudget(long maxSamples)
{
    private long _held;

    public long MaxSamples { get; } = maxSamples;

    /// <summary>Samples held now, all streams together.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>Takes room for <paramref name="samples"/>; false (nothing taken) when it would pass the limit.</summary>
    public bool TryTake(int samples)
    {
        if (Interlocked.Add(ref _held, samples) <= MaxSamples)
        {
            return true;
        }

        Interlocked.Add(ref _held, -samples);
        return false;
    }

    public void Give(int samples) => Interlocked.Add(ref _held, -samples);
}
