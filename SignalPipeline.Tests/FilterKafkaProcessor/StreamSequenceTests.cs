using FilterKafkaProcessor.Sequencing;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

public sealed class StreamSequenceTests
{
    private static (List<long> Released, SequenceCounters Counters, StreamSequence<long> Sequence) Feed(int maxHeld, params long[] seqs)
    {
        var sequence = new StreamSequence<long>();
        var released = new List<long>();
        var counters = new SequenceCounters();
        foreach (var seq in seqs)
        {
            sequence.Offer(seq, seq, maxHeld, released, ref counters);
        }

        return (released, counters, sequence);
    }

    [Fact]
    public void InOrderChunksAreReleasedAsTheyCome()
    {
        var (released, counters, sequence) = Feed(4, 0, 1, 2, 3);
        Assert.Equal([0, 1, 2, 3], released);
        Assert.Equal(4, sequence.NextSeq);
        Assert.Equal(default, counters);
    }

    [Fact]
    public void OutOfOrderChunksAreHeldUntilTheMissingSeqArrives()
    {
        var sequence = new StreamSequence<long>();
        var released = new List<long>();
        var counters = new SequenceCounters();

        Assert.Equal(SequenceOutcome.Released, sequence.Offer(0, 0, 4, released, ref counters));
        Assert.Equal(SequenceOutcome.Held, sequence.Offer(2, 2, 4, released, ref counters));
        Assert.Equal(SequenceOutcome.Held, sequence.Offer(3, 3, 4, released, ref counters));
        Assert.Equal([0], released);
        Assert.Equal([2L, 3L], sequence.Held.Select(h => h.Key));

        Assert.Equal(SequenceOutcome.Released, sequence.Offer(1, 1, 4, released, ref counters));
        Assert.Equal([0, 1, 2, 3], released);
        Assert.Equal(4, sequence.NextSeq);
        Assert.Equal(0, sequence.HeldCount);
        Assert.Equal(default, counters);
    }

    [Fact]
    public void OldAndRepeatedSeqsAreDuplicates()
    {
        var (released, counters, _) = Feed(4, 0, 1, 1, 0, 3, 3, 2);
        Assert.Equal([0, 1, 2, 3], released);
        Assert.Equal(3, counters.Duplicates);
        Assert.Equal(0, counters.Gaps);
    }

    [Fact]
    public void AFullBufferSkipsTheGapAndCountsIt()
    {
        // Seq 1 never comes; with room for 2 held chunks, the third one ahead forces the skip.
        var (released, counters, sequence) = Feed(2, 0, 2, 3, 4, 5);
        Assert.Equal([0, 2, 3, 4, 5], released);
        Assert.Equal(1, counters.Gaps);
        Assert.Equal(1, counters.SkippedSeqs);
        Assert.Equal(6, sequence.NextSeq);

        // The late seq 1 is now older than the next expected one: a duplicate, not merged in.
        var late = new List<long>();
        sequence.Offer(1, 1, 2, late, ref counters);
        Assert.Empty(late);
        Assert.Equal(1, counters.Duplicates);
    }

    [Fact]
    public void WithoutABufferAGapIsSkippedAtOnce()
    {
        var (released, counters, _) = Feed(0, 5, 6, 8);
        Assert.Equal([5, 6, 8], released);
        Assert.Equal(2, counters.Gaps);
        Assert.Equal(5 + 1, counters.SkippedSeqs);
    }

    [Fact]
    public void SkippingReleasesOnlyTheContiguousRunAfterTheGap()
    {
        // Held: 2, 3, 6; offering 7 overflows a 3-chunk buffer: skip to 2, release 2 and 3, keep 6 and 7 waiting for 4.
        var (released, counters, sequence) = Feed(3, 0, 2, 3, 6, 7);
        Assert.Equal([0, 2, 3], released);
        Assert.Equal([6L, 7L], sequence.Held.Select(h => h.Key));
        Assert.Equal(4, sequence.NextSeq);
        Assert.Equal(1, counters.Gaps);
    }

    [Fact]
    public void ReplayingTheSameArrivalOrderFromACheckpointMakesTheSameDecisions()
    {
        long[] arrivals = [0, 3, 1, 5, 2, 9, 10, 11, 12, 4, 6, 13, 7, 8, 14];
        var whole = Feed(3, arrivals);

        // Stop after 7 arrivals, rebuild from the checkpointed next seq and held chunks, and go on.
        var first = Feed(3, arrivals[..7]);
        var restored = new StreamSequence<long>(first.Sequence.NextSeq, first.Sequence.Held);
        var released = new List<long>(first.Released);
        var counters = first.Counters;
        foreach (var seq in arrivals[7..])
        {
            restored.Offer(seq, seq, 3, released, ref counters);
        }

        Assert.Equal(whole.Released, released);
        Assert.Equal(whole.Counters, counters);
        Assert.Equal(whole.Sequence.NextSeq, restored.NextSeq);
        Assert.Equal(whole.Sequence.Held.Select(h => h.Key), restored.Held.Select(h => h.Key));
    }

    [Fact]
    public void ReleasedSeqsAreAlwaysIncreasing()
    {
        var random = new Random(42);
        for (var run = 0; run < 200; run++)
        {
            var seqs = Enumerable.Range(0, 60).Select(_ => (long)random.Next(0, 70)).ToArray();
            var (released, counters, sequence) = Feed(random.Next(0, 8), seqs);
            for (var i = 1; i < released.Count; i++)
            {
                Assert.True(released[i] > released[i - 1], $"run {run}: {released[i - 1]} then {released[i]}");
            }

            // Every offered seq is released, held, or counted as a duplicate; skipped seqs were never offered before the skip.
            Assert.Equal(seqs.Length, released.Count + sequence.HeldCount + counters.Duplicates);
        }
    }

    [Fact]
    public void AnEmptySequenceCanBeResetToStandForAnotherStreamButAHoldingOneCannot()
    {
        var scratch = new StreamSequence<long>(5);
        var released = new List<long>();
        var counters = new SequenceCounters();

        Assert.Same(scratch, scratch.Reset(9));
        Assert.Equal(SequenceOutcome.Released, scratch.Offer(9, 9, 3, released, ref counters));
        Assert.Equal(10, scratch.NextSeq);

        Assert.Equal(SequenceOutcome.Held, scratch.Offer(12, 12, 3, released, ref counters));
        Assert.Throws<InvalidOperationException>(() => scratch.Reset(0));
    }
}
