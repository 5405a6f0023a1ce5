using SignalPipeline.Filters;

namespace FilterProcessor.Filtering;

/// <summary>
/// One stream's filter state. Between transactions only the committed snapshot is kept (a few dozen bytes for kalman,
/// so a million idle streams stay small); during a batch the working state is a live <see cref="IStreamFilter"/>
/// (local mode) or the snapshot the algorithm service returned (remote mode). Both forms are
/// <see cref="IStreamFilter.SaveState"/>'s format. Not sealed: a stream's state derives from it, so a million streams
/// pay for one object each rather than two.
/// </summary>
public class StreamFilterHandle(byte[]? committed)
{
    private IStreamFilter? _live;
    private byte[]? _working;

    /// <summary>The state as of the last commit; null before the stream's first chunk.</summary>
    public byte[]? CommittedState { get; private set; } = committed;

    /// <summary>True before the stream's first chunk was filtered.</summary>
    public bool IsNew => _live is null && _working is null && CommittedState is null;

    /// <summary>The live filter, created from the working or committed state, or from the parameters on first use.</summary>
    public IStreamFilter GetFilter(string algorithm, IReadOnlyDictionary<string, double> parameters)
    {
        if (_live is null)
        {
            var state = _working ?? CommittedState;
            _live = state is null ? FilterFactory.Create(algorithm, parameters) : FilterFactory.Restore(state, algorithm);
            _working = null;
        }

        return _live;
    }

    /// <summary>Replaces the working state with a snapshot (remote mode: the service's answer; or a rollback point).</summary>
    public void SetSnapshot(byte[]? snapshot)
    {
        _working = snapshot;
        _live = null;
    }

    /// <summary>The working state; null before the first chunk.</summary>
    public byte[]? SaveState() => _live?.SaveState() ?? _working ?? CommittedState;

    /// <summary>The transaction that wrote <paramref name="state"/> committed: keep only the bytes.</summary>
    public void OnFilterCommitted(byte[]? state)
    {
        CommittedState = state;
        _live = null;
        _working = null;
    }

    /// <summary>Forgets the working state: the next use starts from the committed state again.</summary>
    public void RollbackFilter()
    {
        _live = null;
        _working = null;
    }
}
