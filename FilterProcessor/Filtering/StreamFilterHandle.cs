using SignalPipeline.Filters;

namespace FilterProcessor.Filtering;

/// <summary>
/// One stream's filter state, in whichever form the mode needs: a live <see cref="IStreamFilter"/> (local mode) or the
/// snapshot bytes the algorithm service returned (remote mode). Both forms are <see cref="IStreamFilter.SaveState"/>'s format.
/// </summary>
public sealed class StreamFilterHandle(byte[]? snapshot)
{
    public IStreamFilter? Filter { get; private set; }

    public byte[]? Snapshot { get; private set; } = snapshot;

    /// <summary>True before the stream's first chunk was filtered.</summary>
    public bool IsNew => Filter is null && Snapshot is null;

    /// <summary>The live filter, created from the snapshot or from the configured parameters on first use.</summary>
    public IStreamFilter GetFilter(string algorithm, IReadOnlyDictionary<string, double> parameters)
    {
        if (Filter is null)
        {
            Filter = Snapshot is null ? FilterFactory.Create(algorithm, parameters) : FilterFactory.Restore(Snapshot, algorithm);
            Snapshot = null;
        }

        return Filter;
    }

    /// <summary>Replaces the state with a snapshot (remote mode: the service's answer).</summary>
    public void SetSnapshot(byte[] snapshot)
    {
        Snapshot = snapshot;
        Filter = null;
    }

    /// <summary>The state to checkpoint; null before the first chunk.</summary>
    public byte[]? SaveState() => Filter?.SaveState() ?? Snapshot;
}
