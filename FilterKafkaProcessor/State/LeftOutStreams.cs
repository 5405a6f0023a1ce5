namespace FilterKafkaProcessor.State;

/// <summary>
/// The streams a restore left out (past <c>Processor:MaxStreams</c> or <c>Processor:MaxStreamBytes</c>), for
/// <c>signalpipeline.processor.restore.dropped</c> and the restore's warning. One left out early may come back with a later
/// checkpoint, or be removed by a tombstone, so the ids are kept to count the streams left out at the end; but only up
/// to <paramref name="maxIds"/> of them (about 120 bytes each): a survivor taking over many replicas' streams would
/// otherwise hold one id per stream left out (19 million ids, about 2 GB). Past it a stream left out is counted, not
/// remembered, and the count becomes an upper bound (<see cref="Exact"/> false): each such leaving counts once, even
/// when its stream is taken back later or left out again by another checkpoint. Not thread-safe (the restore's budget
/// lock guards it).
/// </summary>
public sealed class LeftOutStreams(int maxIds = LeftOutStreams.MaxIds)
{
    /// <summary>Stream ids remembered: 100,000 ids of 36 characters take about 12 MB.</summary>
    public const int MaxIds = 100_000;

    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private long _untracked;

    /// <summary>The streams left out: exact while <see cref="Exact"/>, else at most this many.</summary>
    public long Count => _ids.Count + _untracked;

    /// <summary>False once a stream was left out with <paramref name="maxIds"/> ids already remembered.</summary>
    public bool Exact => _untracked == 0;

    /// <summary>The ids remembered (at most <paramref name="maxIds"/>).</summary>
    public int Remembered => _ids.Count;

    public void Add(string stream)
    {
        if (_ids.Count < maxIds || _ids.Contains(stream))
        {
            _ids.Add(stream);
        }
        else
        {
            _untracked++;
        }
    }

    /// <summary>A stream restored or removed after all: no longer left out (if remembered).</summary>
    public void Remove(string stream)
    {
        if (_ids.Count > 0)
        {
            _ids.Remove(stream);
        }
    }
}
