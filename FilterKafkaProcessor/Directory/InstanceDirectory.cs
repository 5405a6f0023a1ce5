namespace FilterKafkaProcessor.Directory;

/// <summary>
/// The processor instances as the directory topic says (pure: no I/O, the clock passed in). An announcement replaces
/// the instance's previous one, a tombstone removes it, and one older than <paramref name="expiry"/> is not live (its
/// instance crashed or hangs: a live one announces every heartbeat). Thread-safe: the directory reader writes, HTTP
/// requests read.
/// </summary>
public sealed class InstanceDirectory(TimeSpan expiry, TimeProvider time)
{
    private readonly Dictionary<string, InstanceEntry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>
    /// An announcement (<paramref name="entry"/>) or a tombstone (null) of <paramref name="instance"/>. An announcement
    /// dated more than the expiry ahead of this clock is ignored (false): clocks are assumed within a heartbeat of each
    /// other, and kept, it would stay live until its date (a day ahead: a day) and hide every real announcement of its
    /// instance, which are older.
    /// </summary>
    public bool Apply(string instance, InstanceEntry? entry)
    {
        lock (_gate)
        {
            if (entry is null)
            {
                _entries.Remove(instance);
            }
            else if (entry.AtMs > NowMs + (long)expiry.TotalMilliseconds)
            {
                return false;
            }
            else if (!_entries.TryGetValue(instance, out var known) || known.AtMs <= entry.AtMs)
            {
                // A record read late (another partition, a restarted reader) never replaces a newer one.
                _entries[instance] = entry;
            }

            return true;
        }
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
