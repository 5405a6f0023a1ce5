namespace FilterKafkaProcessor.Sequencing;

/// <summary>What <see cref="StreamSequence{T}.Offer"/> did with a chunk.</summary>
public enum SequenceOutcome
{
    /// <summary>The chunk was the next expected one: it (and any held chunks that follow it) were released.</summary>
    Released,

    /// <summary>The chunk is ahead of the next expected seq and waits in the stream's buffer.</summary>
    Held,

    /// <summary>The chunk's seq was already processed, or is already held: dropped.</summary>
    Duplicate,
}

/// <summary>Counts of what the ordering rules did, added to by <see cref="StreamSequence{T}.Offer"/>.</summary>
public struct SequenceCounters
{
    /// <summary>Chunks dropped because their seq was processed before or is already held.</summary>
    public long Duplicates;

    /// <summary>Times the buffer filled and the stream skipped ahead over missing seqs.</summary>
    public long Gaps;

    /// <summary>Seqs that were skipped over (never processed) by those gaps.</summary>
    public long SkippedSeqs;
}

/// <summary>
/// The ordering rules for one stream, with no I/O: chunks are released strictly in seq order from 0.
/// A chunk ahead of the next expected seq is held (bounded by <c>maxHeld</c>); when one more would exceed the bound,
/// the stream skips ahead to the lowest held seq (a counted gap) and releases from there. A seq below the next
/// expected one, or one already held, is a duplicate and is dropped. The rules depend only on the order the chunks
/// arrive in, so a replay of the same partition from a checkpoint makes the same decisions. The one decision taken on
/// time or size (<see cref="SkipGap"/>, called by the processor when held chunks waited too long or take too many
/// bytes) is committed with the checkpoint that records its result, so a replay starts after it. Seqs go up to
/// <see cref="MaxSeq"/>, so the next expected seq never overflows.
/// </summary>
public sealed class StreamSequence<T>
{
    /// <summary>The largest seq a chunk may have (one less than <see cref="long.MaxValue"/>, the largest next seq).</summary>
    public const long MaxSeq = long.MaxValue - 1;

    // Created on the first held chunk: most streams never hold one, and a million idle streams should not pay for it.
    private SortedList<long, T>? _held;

    public StreamSequence(long nextSeq = 0, IEnumerable<KeyValuePair<long, T>>? held = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nextSeq);
        NextSeq = nextSeq;
        foreach (var (seq, chunk) in held ?? [])
        {
            if (seq <= nextSeq)
            {
                throw new ArgumentException($"Held seq {seq} is not ahead of the next expected seq {nextSeq}.", nameof(held));
            }

            (_held ??= []).Add(seq, chunk);
        }
    }

    /// <summary>The seq the stream waits for.</summary>
    public long NextSeq { get; private set; }

    /// <summary>Makes this (empty) sequence stand for a stream waiting for <paramref name="nextSeq"/>: a scratch
    /// sequence shared by streams that hold nothing, so a million idle streams need no sequence object each.</summary>
    public StreamSequence<T> Reset(long nextSeq)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nextSeq);
        if (_held is { Count: > 0 })
        {
            throw new InvalidOperationException("Only a sequence that holds nothing can be reset.");
        }

        NextSeq = nextSeq;
        return this;
    }

    /// <summary>Chunks waiting for a missing seq, in seq order.</summary>
    public IReadOnlyList<KeyValuePair<long, T>> Held => _held is null ? [] : [.. _held];

    public int HeldCount => _held?.Count ?? 0;

    /// <summary>
    /// Offers one chunk. Released chunks (this one and/or held ones now in order) are appended to
    /// <paramref name="released"/> in the order they must be filtered.
    /// </summary>
    public SequenceOutcome Offer(long seq, T chunk, int maxHeld, List<T> released, ref SequenceCounters counters)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(seq);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(seq, MaxSeq);
        ArgumentOutOfRangeException.ThrowIfNegative(maxHeld);

        if (seq < NextSeq || _held?.ContainsKey(seq) == true)
        {
            counters.Duplicates++;
            return SequenceOutcome.Duplicate;
        }

        if (seq == NextSeq)
        {
            released.Add(chunk);
            NextSeq++;
            Drain(released);
            return SequenceOutcome.Released;
        }

        (_held ??= []).Add(seq, chunk);
        if (_held.Count <= maxHeld)
        {
            return SequenceOutcome.Held;
        }

        // The buffer is full: give up on the missing seqs and go on from the lowest held chunk.
        SkipGap(released, ref counters);
        return _held.ContainsKey(seq) ? SequenceOutcome.Held : SequenceOutcome.Released;
    }

    /// <summary>
    /// Gives up on the missing seqs before the lowest held chunk: the stream goes on from there (a counted gap) and the
    /// run of held chunks that follows in order is released. Nothing happens when nothing is held.
    /// </summary>
    public void SkipGap(List<T> released, ref SequenceCounters counters)
    {
        if (_held is not { Count: > 0 })
        {
            return;
        }

        var lowest = _held.Keys[0];
        counters.Gaps++;
        counters.SkippedSeqs += lowest - NextSeq;
        NextSeq = lowest;
        Drain(released);
    }

    private void Drain(List<T> released)
    {
        while (_held is { Count: > 0 } && _held.Keys[0] == NextSeq)
        {
            released.Add(_held.Values[0]);
            _held.RemoveAt(0);
            NextSeq++;
        }
    }
}
