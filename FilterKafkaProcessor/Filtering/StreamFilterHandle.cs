using FilterKafkaProcessor.Config;
using SignalPipeline.Filters;

namespace FilterKafkaProcessor.Filtering;

/// <summary>
/// One stream's filter state. Between transactions only the committed snapshot is kept (a few dozen bytes for kalman,
/// so a million idle streams stay small); during a batch the working state is a live <see cref="IStreamFilter"/>
/// (local mode) or the snapshot the algorithm service returned (remote mode). Both forms are
/// <see cref="IStreamFilter.SaveState"/>'s format. Also the stream's own config (<see cref="Setting"/>; null: the
/// deployment default), switched inside a transaction and rolled back with it. Not sealed: a stream's state derives
/// from it, so a million streams pay for one object each rather than two.
/// </summary>
public class StreamFilterHandle(byte[]? committed, StreamFilterSetting? setting = null)
{
    // Two fields where there are five facts, because a million streams pay for every field (docs/benchmarks.md,
    // "Processor state"): _work is the live filter (IStreamFilter) or the working snapshot (byte[]), never both;
    // _config is the setting (committed = current) or, only while a transaction changes it, a Transition.
    private object? _work;
    private object? _config = setting;

    /// <summary>A config change in the open transaction: the committed setting, the new one, and whether the filter starts fresh.</summary>
    private sealed record Transition(StreamFilterSetting? Committed, StreamFilterSetting? Current, bool Fresh);

    /// <summary>The state as of the last commit; null before the stream's first chunk.</summary>
    public byte[]? CommittedState { get; private set; } = committed;

    /// <summary>The config as of the last commit; null: the deployment default since the stream's start.</summary>
    public StreamFilterSetting? CommittedSetting => _config is Transition t ? t.Committed : (StreamFilterSetting?)_config;

    /// <summary>The config in the open transaction.</summary>
    public StreamFilterSetting? Setting => _config is Transition t ? t.Current : (StreamFilterSetting?)_config;

    /// <summary>Switched to another algorithm in the open transaction: the committed state no longer applies.</summary>
    private bool Fresh => _config is Transition { Fresh: true };

    /// <summary>The stream's own algorithm, or null when it runs the deployment default.</summary>
    public string? Algorithm => Setting?.Config?.Algorithm;

    /// <summary>True before the stream's first chunk was filtered (or since a switch to a fresh filter).</summary>
    public bool IsNew => _work is null && (CommittedState is null || Fresh);

    /// <summary>The live filter, created from the working or committed state, or from the stream's config (else the given default) on first use.</summary>
    public IStreamFilter GetFilter(string algorithm, IReadOnlyDictionary<string, double> parameters)
    {
        if (_work is IStreamFilter live)
        {
            return live;
        }

        var state = _work as byte[] ?? (Fresh ? null : CommittedState);
        var config = Setting?.Config;
        live = state is not null ? FilterFactory.Restore(state, config?.Algorithm ?? algorithm)
            : config is not null ? config.NewFilter()
            : FilterFactory.Create(algorithm, parameters);
        _work = live;
        return live;
    }

    /// <summary>The working state, or for a stream with its own config and no state yet its filter's initial state (remote mode sends it, so the service filters with the stream's parameters).</summary>
    public byte[]? StateToSend() => SaveState() ?? Setting?.Config?.NewFilter().SaveState();

    /// <summary>Replaces the working state with a snapshot (remote mode: the service's answer; or a rollback point).</summary>
    public void SetSnapshot(byte[]? snapshot) => _work = snapshot;

    /// <summary>
    /// Whether the working state holds only finite values, as a restore requires (<see cref="IStreamFilter.StateIsFinite"/>;
    /// remote mode: the service's snapshot). A stream whose state is not finite cannot go on from it.
    /// </summary>
    public bool StateIsFinite => _work switch
    {
        IStreamFilter live => live.StateIsFinite,
        byte[] working => FilterFactory.HoldsOnlyFiniteValues(working),
        _ => true,
    };

    /// <summary>The working state; null before the first chunk.</summary>
    public byte[]? SaveState() => _work switch
    {
        IStreamFilter live => live.SaveState(),
        byte[] working => working,
        _ => Fresh ? null : CommittedState,
    };

    /// <summary>Records a config decision that leaves the filter as it is (an equal config, or a refused one).</summary>
    public void Record(StreamFilterSetting? setting) => _config = new Transition(CommittedSetting, setting, Fresh);

    /// <summary>
    /// Switches to <paramref name="to"/> from now on: another algorithm starts at its initial state; the same algorithm
    /// keeps its learned state under the new parameters where their shapes allow (<see cref="FilterInspector.Retune"/>),
    /// else starts fresh too. Returns true when the state was kept.
    /// </summary>
    public bool Switch(StreamFilterSetting? setting, StreamFilterConfig from, StreamFilterConfig to)
    {
        var state = from.Algorithm == to.Algorithm ? SaveState() : null;
        var retuned = state is null ? null : FilterInspector.Retune(state, to.Parameters);
        _config = new Transition(CommittedSetting, setting, Fresh: retuned is null);
        _work = retuned;
        return retuned is not null;
    }

    /// <summary>The transaction that wrote <paramref name="state"/> and <paramref name="setting"/> committed: keep only the bytes.</summary>
    public void OnFilterCommitted(byte[]? state, StreamFilterSetting? setting)
    {
        CommittedState = state;
        _config = setting;
        _work = null;
    }

    /// <summary>
    /// Starts the filter again at its config's initial state (the same config; the committed one stays for a rollback).
    /// Returns the mark <see cref="UndoRestart"/> takes.
    /// </summary>
    public object? Restart()
    {
        var config = _config;
        _work = null;
        _config = new Transition(CommittedSetting, Setting, Fresh: true);
        return config;
    }

    /// <summary>Undoes <see cref="Restart"/>: the config as it was, and <paramref name="snapshot"/> as the working state.</summary>
    public void UndoRestart(object? mark, byte[]? snapshot)
    {
        _config = mark;
        _work = snapshot;
    }

    /// <summary>Forgets the working state and config: the next use starts from the committed ones again.</summary>
    public void RollbackFilter()
    {
        _work = null;
        _config = CommittedSetting;
    }
}
