namespace FilterKafkaProcessor.Directory;

/// <summary>
/// The processor instances as the directory topic says (pure: no I/O, the clock passed in). An announcement replaces
/// the instance's previous one, a tombstone removes it, and one older than <paramref name="expiry"/> is not live (its
/// instance crashed or hangs: a live one announces every heartbeat). Thread-safe: the directory reader writes, HTTP
/// requests read. It holds at most <paramref name="maxEntries"/> entries (<see cref="MaxEntries"/>): whoever can write
/// the topic could otherwise name a million instances, each held until pruned and each asked by every stream lookup.
/// </summary>
public sealed class InstanceDirectory(TimeSpan expiry, TimeProvider time, int maxEntries = InstanceDirectory.MaxEntries)
{
    /// <summary>Entries held, live or not: far above the 20 replicas the HPA runs, so a real instance always finds room.</summary>
    public const int MaxEntries = 1024;

    private readonly Dictionary<string, InstanceEntry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _noRoomUntilMs = long.MinValue;

    /// <summary>
    /// An announcement (<paramref name="entry"/>) or a tombstone (null) of <paramref name="instance"/>. An announcement
    /// dated more than the expiry ahead of this clock is ignored (<see cref="DirectoryApply.Ahead"/>): clocks are assumed
    /// within a heartbeat of each other, and kept, it would stay live until its date (a day ahead: a day) and hide every
    /// real announcement of its instance, which are older. A new instance with <see cref="MaxEntries"/> entries held takes
    /// the place of the oldest entry if that one is not live (its instance crashed: pruned later anyway), else it is
    /// ignored (<see cref="DirectoryApply.Full"/>); known instances are always updated.
    /// </summary>
    public DirectoryApply Apply(string instance, InstanceEntry? entry)
    {
        lock (_gate)
        {
            if (entry is null)
            {
                _entries.Remove(instance);
            }
            else if (entry.AtMs > NowMs + (long)expiry.TotalMilliseconds)
            {
                return DirectoryApply.Ahead;
            }
            else if (_entries.TryGetValue(instance, out var known))
            {
                // A record read late (another partition, a restarted reader) never replaces a newer one.
                if (known.AtMs <= entry.AtMs)
                {
                    _entries[instance] = entry;
                }
            }
            else if (_entries.Count < maxEntries || RemoveOldestNotLive())
            {
                _entries[instance] = entry;
            }
            else
            {
                return DirectoryApply.Full;
            }

            return DirectoryApply.Applied;
        }
    }

    /// <summary>Entries held at most (<see cref="MaxEntries"/> unless a test sets fewer).</summary>
    public int MaxEntryCount => maxEntries;

    private bool RemoveOldestNotLive()
    {
        // While every entry is live, a flood of new names would walk the table for each record: no entry can stop
        // being live before the oldest does (entries only get newer or go), so until then there is no room to look for.
        var now = NowMs;
        if (now < _noRoomUntilMs)
        {
            return false;
        }

        var oldest = _entries.Values.MinBy(e => e.AtMs)!;
        if (oldest.AtMs >= now - (long)expiry.TotalMilliseconds)
        {
            _noRoomUntilMs = oldest.AtMs + (long)expiry.TotalMilliseconds;
            return false;
        }

        _entries.Remove(oldest.Instance);
        return true;
    }

    /// <summary>The live instances, by name: announced within the expiry (and not more than it ahead, should the clock go back).</summary>
    public IReadOnlyList<InstanceEntry> Live()
    {
        var now = NowMs;
        var (oldest, newest) = (now - (long)expiry.TotalMilliseconds, now + (long)expiry.TotalMilliseconds);
        lock (_gate)
        {
            return [.. _entries.Values.Where(e => e.AtMs >= oldest && e.AtMs <= newest).OrderBy(e => e.Instance, StringComparer.Ordinal)];
        }
    }

    /// <summary>The live instances other than <paramref name="self"/>, by name.</summary>
    public IReadOnlyList<InstanceEntry> Others(string self) => [.. Live().Where(e => e.Instance != self)];

    /// <summary>Forgets the entries not announced for <paramref name="age"/> (a crash leaves no tombstone) and returns their names.</summary>
    public IReadOnlyList<string> Prune(TimeSpan age)
    {
        var oldest = NowMs - (long)age.TotalMilliseconds;
        lock (_gate)
        {
            var gone = _entries.Values.Where(e => e.AtMs < oldest).Select(e => e.Instance).ToList();
            foreach (var instance in gone)
            {
                _entries.Remove(instance);
            }

            return gone;
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    private long NowMs => time.GetUtcNow().ToUnixTimeMilliseconds();
}

/// <summary>What <see cref="InstanceDirectory.Apply"/> did with a record.</summary>
public enum DirectoryApply
{
    /// <summary>Applied (or read late and older than the entry held: nothing to change).</summary>
    Applied,

    /// <summary>Ignored: dated more than the expiry ahead of this instance's clock.</summary>
    Ahead,

    /// <summary>Ignored: a new instance with <see cref="InstanceDirectory.MaxEntries"/> live entries held.</summary>
    Full,
}
