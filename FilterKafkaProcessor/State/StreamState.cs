using Confluent.Kafka;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.Sequencing;
using SignalPipeline.Messages;

namespace FilterKafkaProcessor.State;

/// <summary>
/// One stream's live state: its ordering rules, its filter, and what was true at the last commit, so a failed
/// transaction or a poisoned chunk rolls back this stream alone (no reload from the changelog).
/// </summary>
public sealed class StreamState(string streamId, long nextSeq = 0, IReadOnlyList<PendingChunk>? held = null, byte[]? filterState = null, StreamFilterSetting? setting = null)
    : StreamFilterHandle(filterState, setting)
{
    private long _committedNextSeq = nextSeq;

    // What matters only while chunks are held, now or at the last commit: one reference in each of a million streams,
    // most of which hold nothing (docs/benchmarks.md, "Processor state").
    private HoldRecord? _hold = held is { Count: > 0 } ? new HoldRecord { Committed = held } : null;

    private sealed class HoldRecord
    {
        public long Bytes;
        public long SinceMs = long.MinValue;
        public long CommittedSinceMs = long.MinValue;
        public IReadOnlyList<PendingChunk>? Committed;

        public bool IsEmpty => Bytes == 0 && SinceMs == long.MinValue && CommittedSinceMs == long.MinValue && Committed is null;
    }

    private void TrimHold()
    {
        if (_hold is { IsEmpty: true })
        {
            _hold = null;
        }
    }

    private IReadOnlyList<PendingChunk>? CommittedHeld
    {
        get => _hold?.Committed;
        set
        {
            if (value is not null || _hold is not null)
            {
                (_hold ??= new HoldRecord()).Committed = value;
                TrimHold();
            }
        }
    }

    public string StreamId { get; } = streamId;

    /// <summary>The input partition the stream lives in (set when added to it).</summary>
    public int Partition { get; internal set; }

    // The ordering state: a sequence object only while chunks are held; otherwise just the next seq (a stream that
    // holds nothing borrows its partition's scratch sequence for an offer).
    private StreamSequence<ChunkEnvelope>? _holding = held is { Count: > 0 } ? NewSequence(nextSeq, held) : null;
    private long _nextSeq = nextSeq;

    /// <summary>The seq the stream waits for.</summary>
    public long NextSeq => _holding?.NextSeq ?? _nextSeq;

    public int HeldCount => _holding?.HeldCount ?? 0;

    /// <summary>Chunks waiting for a missing seq, in seq order.</summary>
    public IReadOnlyList<KeyValuePair<long, ChunkEnvelope>> Held => _holding?.Held ?? [];

    /// <summary>
    /// <see cref="StreamSequence{T}.Offer"/> for this stream. <paramref name="scratch"/> is an empty sequence lent for the
    /// offer; returns true when the stream kept it (it now holds chunks), so the lender needs a new one.
    /// </summary>
    public bool Offer(long seq, ChunkEnvelope chunk, int maxHeld, List<ChunkEnvelope> released, ref SequenceCounters counters, StreamSequence<ChunkEnvelope> scratch, out SequenceOutcome outcome)
    {
        var sequence = _holding ?? scratch.Reset(_nextSeq);
        outcome = sequence.Offer(seq, chunk, maxHeld, released, ref counters);
        return Settle(sequence);
    }

    /// <summary><see cref="StreamSequence{T}.SkipGap"/> for this stream.</summary>
    public void SkipGap(List<ChunkEnvelope> released, ref SequenceCounters counters)
    {
        if (_holding is { } sequence)
        {
            sequence.SkipGap(released, ref counters);
            Settle(sequence);
        }
    }

    /// <summary>Keeps the sequence object only while it holds chunks; returns true when it newly took it.</summary>
    private bool Settle(StreamSequence<ChunkEnvelope> sequence)
    {
        if (sequence.HeldCount > 0)
        {
            var taken = _holding is null;
            _holding = sequence;
            return taken;
        }

        _nextSeq = sequence.NextSeq;
        _holding = null;
        return false;
    }

    /// <summary>The stream's filter state (this object: see <see cref="StreamFilterHandle"/>).</summary>
    public StreamFilterHandle Filter => this;

    /// <summary>Changed in the open transaction: its checkpoint is written before the commit.</summary>
    public bool Dirty { get; set; }

    /// <summary>Never committed: a rollback forgets it.</summary>
    public bool IsUncommitted { get; private set; } = true;

    /// <summary>Bytes the held chunks take in the checkpoint, headers included (bounded so it fits one Kafka message).</summary>
    public long HeldBytes
    {
        get => _hold?.Bytes ?? 0;
        set
        {
            if (value != 0 || _hold is not null)
            {
                (_hold ??= new HoldRecord()).Bytes = value;
                TrimHold();
            }
        }
    }

    /// <summary>When the oldest chunk now held started waiting (this instance's clock), or null when none is held.</summary>
    public long? HeldSinceMs
    {
        get => _hold is null || _hold.SinceMs == long.MinValue ? null : _hold.SinceMs;
        set
        {
            if (value is not null || _hold is not null)
            {
                (_hold ??= new HoldRecord()).SinceMs = value ?? long.MinValue;
                TrimHold();
            }
        }
    }

    /// <summary>What <see cref="HeldSinceMs"/> was at the last commit (or restore), for a rollback.</summary>
    private long? CommittedHeldSinceMs
    {
        get => _hold is null || _hold.CommittedSinceMs == long.MinValue ? null : _hold.CommittedSinceMs;
        set
        {
            if (value is not null || _hold is not null)
            {
                (_hold ??= new HoldRecord()).CommittedSinceMs = value ?? long.MinValue;
                TrimHold();
            }
        }
    }

    /// <summary>Restored from a checkpoint with held chunks: they wait from <paramref name="nowMs"/> on, also after a rollback.</summary>
    public void HoldingSince(long nowMs)
    {
        HeldSinceMs = nowMs;
        CommittedHeldSinceMs = nowMs;
    }

    /// <summary>
    /// What a stream takes in memory besides its id and its filter state, as <see cref="Bytes"/> counts it: this object,
    /// its entry in the partition's dictionary, the id string's and the state array's headers (measured, docs/processor.md,
    /// "Limits").
    /// </summary>
    public const int FixedBytes = 246;

    /// <summary>
    /// About what a stream with this id takes in memory before its first commit (<see cref="Bytes"/> with no filter
    /// state yet), for <c>Processor:MaxStreamBytes</c>.
    /// </summary>
    public static long BytesOf(string streamId) => FixedBytes + 2L * streamId.Length;

    /// <summary>
    /// About what this stream takes in memory, held chunks aside (<c>Processor:MaxHeldBytes</c> bounds those): its id
    /// and its committed filter state. A working state during a transaction counts from its commit on.
    /// </summary>
    public long Bytes => BytesOf(StreamId) + (CommittedState?.Length ?? 0);

    /// <summary>When the stream last received a chunk (this instance's clock), for idle eviction.</summary>
    public long LastActiveMs { get; set; }

    /// <summary>The partition's least-recently-active list (intrusive, so it costs two references per stream).</summary>
    internal StreamState? Older { get; set; }

    internal StreamState? Newer { get; set; }

    /// <summary>Marks this state as restored from a checkpoint (it exists in the changelog).</summary>
    public StreamState Committed()
    {
        IsUncommitted = false;
        return this;
    }

    public StreamCheckpoint ToCheckpoint()
        => new(NextSeq, Filter.SaveState(), [.. Held.Select(h => h.Value.ToPending())], Filter.Setting);

    /// <summary>After a commit that wrote <paramref name="checkpoint"/>: it is the state to roll back to from now on.</summary>
    public void OnCommitted(StreamCheckpoint checkpoint)
    {
        _committedNextSeq = checkpoint.NextSeq;
        CommittedHeld = checkpoint.Held.Count > 0 ? checkpoint.Held : null;
        CommittedHeldSinceMs = checkpoint.Held.Count > 0 ? HeldSinceMs : null;
        OnFilterCommitted(checkpoint.FilterState, checkpoint.Setting);
        IsUncommitted = false;
        Dirty = false;
    }

    /// <summary>Back to the last commit: ordering position, held chunks and filter state.</summary>
    public void Rollback()
    {
        var committedHeld = CommittedHeld;
        _holding = committedHeld is null ? null : NewSequence(_committedNextSeq, committedHeld);
        _nextSeq = _committedNextSeq;
        HeldBytes = committedHeld?.Sum(h => h.CheckpointBytes) ?? 0;
        HeldSinceMs = committedHeld is null ? null : CommittedHeldSinceMs ?? HeldSinceMs;
        RollbackFilter();
        Dirty = false;
    }

    private static StreamSequence<ChunkEnvelope> NewSequence(long nextSeq, IReadOnlyList<PendingChunk>? held)
        => new(nextSeq, held?.Select(h => KeyValuePair.Create(h.Seq, ChunkEnvelope.FromPending(h))));
}

/// <summary>A chunk on its way through the ordering rules: the record as read (for a checkpoint) and, once decoded, its samples.</summary>
public sealed class ChunkEnvelope
{
    private readonly Headers? _kafkaHeaders;
    private IReadOnlyList<KeyValuePair<string, byte[]?>>? _headers;

    /// <summary>A chunk just read: its headers are copied only if it has to be checkpointed.</summary>
    public ChunkEnvelope(long seq, byte[] value, Headers? headers, long timestampMs, SampleChunk decoded, TopicPartitionOffset source)
    {
        Seq = seq;
        Value = value;
        _kafkaHeaders = headers;
        TimestampMs = timestampMs;
        Decoded = decoded;
        Source = source;
    }

    private ChunkEnvelope(PendingChunk pending)
    {
        Seq = pending.Seq;
        Value = pending.Value;
        _headers = pending.Headers;
        TimestampMs = pending.TimestampMs;
        Source = pending.Source;
    }

    public long Seq { get; }

    public long TimestampMs { get; }

    public SampleChunk? Decoded { get; set; }

    public byte[] Value { get; }

    /// <summary>Where the record was read (named in its dead letter, if it becomes one).</summary>
    public TopicPartitionOffset Source { get; }

    public IReadOnlyList<KeyValuePair<string, byte[]?>> Headers
        => _headers ??= PendingChunk.CopyHeaders(_kafkaHeaders);

    public PendingChunk ToPending() => new(Seq, Value, Headers, TimestampMs, Source);

    /// <summary>What this chunk adds to its stream's checkpoint if held (<see cref="StreamCheckpoint.HeldChunkBytes"/>).</summary>
    public long CheckpointBytes => StreamCheckpoint.HeldChunkBytes(Value, Headers);

    public static ChunkEnvelope FromPending(PendingChunk pending) => new(pending);

    public Headers KafkaHeaders()
    {
        if (_kafkaHeaders is not null)
        {
            return _kafkaHeaders;
        }

        var headers = new Headers();
        foreach (var (key, value) in Headers)
        {
            headers.Add(key, value);
        }

        return headers;
    }
}
