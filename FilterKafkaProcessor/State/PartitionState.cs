namespace FilterKafkaProcessor.State;

/// <summary>
/// One assigned input partition's streams, with what makes per-batch work proportional to the streams a batch touched:
/// a least-recently-active list (idle eviction walks only the idle end) and the set of streams holding chunks (the held
/// timeout looks only at those).
/// </summary>
public sealed class PartitionState(int partition, long nextInputOffset, long outputEnd)
{
    private readonly Dictionary<string, StreamState> _streams = new(StringComparer.Ordinal);
    private StreamState? _oldest;
    private StreamState? _newest;

    public int Partition { get; } = partition;

    /// <summary>The first input offset not covered by the last committed checkpoint (negative: from the beginning).</summary>
    public long NextInputOffset { get; set; } = nextInputOffset;

    /// <summary>A lower bound of the output partition's end after the last commit (the next checkpoint's scan start).</summary>
    public long OutputEnd { get; set; } = outputEnd;

    /// <summary>
    /// The end of the last run of input offsets found deleted before they were read (see <c>StreamThread.Accept</c>), so
    /// a rewind after an abort that meets the same hole again does not count it twice.
    /// </summary>
    public long DeletedUnreadBefore { get; set; } = -1;

    /// <summary>The changelog partition's end after this instance's last commit (where an incremental restore resumes).</summary>
    public long ChangelogEnd { get; set; }

    /// <summary>When the oldest record read since the last commit arrived (this instance's clock), or null when all is committed.</summary>
    public long? PendingSinceMs { get; set; }

    /// <summary>Streams with chunks held for a missing seq.</summary>
    public HashSet<StreamState> Holding { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Streams a restore found holding past a held-chunk bound (<c>Processor:MaxHeldBytes</c> for the instance, or the
    /// stream's own): the next maintenance skips their gaps as the live path does. A stream stays here until a maintenance
    /// finds it within the bounds, so the retry of an aborted transaction skips again.
    /// </summary>
    public List<StreamState> OverHeldBound { get; } = [];

    /// <summary>Streams whose output the dev-broker compensation found already written (see <see cref="OutputScan"/>).</summary>
    public Dictionary<string, long> AlreadyOutput { get; } = new(StringComparer.Ordinal);

    public int Count => _streams.Count;

    /// <summary>What its streams take in memory (<see cref="StreamState.Bytes"/>), for <c>Processor:MaxStreamBytes</c>.</summary>
    public long Bytes { get; private set; }

    public IEnumerable<StreamState> Streams => _streams.Values;

    public bool TryGet(string streamId, out StreamState stream) => _streams.TryGetValue(streamId, out stream!);

    /// <summary>Adds a stream as the most recently active.</summary>
    public void Add(StreamState stream, long nowMs)
    {
        _streams.Add(stream.StreamId, stream);
        Bytes += stream.Bytes;
        stream.Partition = Partition;
        stream.LastActiveMs = nowMs;
        Link(stream);
    }

    /// <summary>Moves the stream to the recently-active end.</summary>
    public void Touch(StreamState stream, long nowMs)
    {
        stream.LastActiveMs = nowMs;
        if (_newest != stream)
        {
            Unlink(stream);
            Link(stream);
        }
    }

    public void Remove(StreamState stream)
    {
        if (_streams.Remove(stream.StreamId))
        {
            Bytes -= stream.Bytes;
            Unlink(stream);
            Holding.Remove(stream);
        }
    }

    /// <summary>
    /// After a commit that wrote <paramref name="checkpoint"/> for one of this partition's streams: the stream adopts it,
    /// and <see cref="Bytes"/> follows its filter state's new size. The stream is still this partition's: a revocation
    /// waits for the commit first (StreamThread.OnRevoked), and only a later batch evicts it.
    /// </summary>
    public void OnCommitted(StreamState stream, StreamCheckpoint checkpoint)
    {
        var before = stream.Bytes;
        stream.OnCommitted(checkpoint);
        Bytes += stream.Bytes - before;
    }

    /// <summary>Every stream counts as active at <paramref name="nowMs"/> (after a restore); their order is kept.</summary>
    public void MarkAllActive(long nowMs)
    {
        for (var stream = _oldest; stream is not null; stream = stream.Newer)
        {
            stream.LastActiveMs = nowMs;
        }
    }

    /// <summary>Streams inactive since <paramref name="cutoffMs"/>, least recently active first; walks only those.</summary>
    public IEnumerable<StreamState> IdleSince(long cutoffMs)
    {
        for (var stream = _oldest; stream is not null && stream.LastActiveMs < cutoffMs; stream = stream.Newer)
        {
            yield return stream;
        }
    }

    /// <summary>The least recently active stream that holds no chunks, or null.</summary>
    public StreamState? OldestNotHolding()
    {
        var stream = _oldest;
        while (stream is not null && Holding.Contains(stream))
        {
            stream = stream.Newer;
        }

        return stream;
    }

    private void Link(StreamState stream)
    {
        stream.Older = _newest;
        stream.Newer = null;
        if (_newest is not null)
        {
            _newest.Newer = stream;
        }

        _newest = stream;
        _oldest ??= stream;
    }

    private void Unlink(StreamState stream)
    {
        if (stream.Older is not null)
        {
            stream.Older.Newer = stream.Newer;
        }
        else if (_oldest == stream)
        {
            _oldest = stream.Newer;
        }

        if (stream.Newer is not null)
        {
            stream.Newer.Older = stream.Older;
        }
        else if (_newest == stream)
        {
            _newest = stream.Older;
        }

        stream.Older = stream.Newer = null;
    }
}
