using SignalPipeline.Filters;

namespace FilterKafkaProcessor.Config;

/// <summary>
/// What a stream's filter config is: the config it runs (null = the deployment default), the seq from which it runs
/// it (-1: from the stream's start), and the stream-config offset it last acted on (-1: none). Recorded in the stream's
/// checkpoint, so a replay continues with the same filter, switched at the same seq.
/// </summary>
public sealed record StreamFilterSetting(StreamFilterConfig? Config, long SwitchSeq, long ConfigOffset);

/// <summary>What a batch does about a stream's config.</summary>
public enum ConfigChange
{
    /// <summary>Nothing new.</summary>
    None,

    /// <summary>A new entry that filters exactly as the stream does now: recorded, the filter untouched.</summary>
    Record,

    /// <summary>A refused entry: dead-lettered once, recorded, the stream keeps its filter.</summary>
    Refuse,

    /// <summary>Another config from this seq on: a new algorithm starts fresh, the same one keeps what its new parameters allow.</summary>
    Switch,
}

/// <summary>The decision for one stream in one batch; <see cref="From"/> and <see cref="To"/> are the effective configs.</summary>
public readonly record struct ConfigDecision(ConfigChange Change, StreamFilterSetting? Setting, StreamFilterConfig From, StreamFilterConfig To, StreamConfigEntry? Entry)
{
    /// <summary>
    /// For a stream on the deployment default whose filter state was made under another default (a redeploy changed
    /// <c>FILTER_ALGORITHM</c> or <c>Filter:Params</c>): a switch to the default now, by the rules of an entry's switch
    /// (another algorithm or state shape starts fresh, new parameters of the same shape retune the state). Null when the
    /// stream has its own config, no state, or a state that runs the default. Taken before <see cref="Decide"/>, which
    /// then starts from the default. Pure.
    /// </summary>
    public static ConfigDecision? Redefault(StreamFilterSetting? current, ReadOnlySpan<byte> state, StreamFilterConfig defaults)
    {
        if (current?.Config is not null || state.IsEmpty || defaults.Runs(state))
        {
            return null;
        }

        StreamFilterConfig ran;
        try
        {
            ran = StreamFilterConfig.Of(state);
        }
        catch (InvalidFilterStateException)
        {
            return null; // corrupt: restoring it fails the chunk (filter-failed), as without a redeploy
        }

        // The setting stays as it is (null for most): the new state says what it runs, and a million streams switched by
        // one redeploy do not each gain a setting object.
        return new(ConfigChange.Switch, current, ran, defaults, null);
    }

    /// <summary>
    /// Decides at <paramref name="seq"/> (the stream's first chunk filtered in this transaction) from the stream's
    /// setting and its entry in the table now. Pure: the same inputs give the same decision.
    /// </summary>
    public static ConfigDecision Decide(StreamFilterSetting? current, StreamConfigEntry? entry, StreamFilterConfig defaults, long seq)
    {
        var from = current?.Config ?? defaults;
        var offset = current?.ConfigOffset ?? -1;
        var switchSeq = current?.SwitchSeq ?? -1;
        if (entry is null)
        {
            // No entry (never written, or deleted by a tombstone): the stream runs the default.
            return current?.Config is null ? new(ConfigChange.None, current, from, from, null)
                : from.SameAs(defaults) ? new(ConfigChange.Record, null, from, defaults, null)
                : new(ConfigChange.Switch, new(null, seq, -1), from, defaults, null);
        }

        if (entry.Offset == offset)
        {
            return new(ConfigChange.None, current, from, from, entry);
        }

        if (entry.Config is not { } to)
        {
            return new(ConfigChange.Refuse, new(current?.Config, switchSeq, entry.Offset), from, from, entry);
        }

        return to.SameAs(from)
            ? new(ConfigChange.Record, new(to, switchSeq, entry.Offset), from, to, entry)
            : new(ConfigChange.Switch, new(to, seq, entry.Offset), from, to, entry);
    }
}
