using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.IO.Hashing;
using System.Text;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Sequencing;
using FilterKafkaProcessor.State;
using FilterKafkaProcessor.Streaming;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Messages;
using SignalPipeline.Tests.FilterKafkaProcessor.Fakes;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>State over the in-memory cluster: restore, eviction, held chunks, seq limits, rebalances and zombies.</summary>
public sealed class ProcessorStateTests
{
    [Fact]
    public void ANewOwnerRestoresEveryStreamAndGoesOnBitIdentically()
    {
        using var harness = new ProcessorHarness();
        var (first, _) = harness.Start();
        var streams = Enumerable.Range(0, 40).Select(i => $"s{i}").ToArray();
        var sent = streams.ToDictionary(s => s, s => Enumerable.Range(0, 6).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        Produce(harness, sent, 0, 3);
        harness.StepUntil(() => streams.All(s => harness.OutputCount(s) == 3), threads: first);

        // The first owner dies (its session expires); a second instance takes every partition over from the changelog.
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        var (second, _) = harness.Start();
        Produce(harness, sent, 3, 6);
        harness.StepUntil(() => streams.All(s => harness.OutputCount(s) == 6), threads: second);

        Assert.Equal(streams.Length, second.StreamCount);
        var outputs = harness.Outputs();
        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, outputs[stream]);
        }
    }

    [Fact]
    public void ACorruptChangelogRecordIsSkippedAndOnlyItsStreamStartsEmpty()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        var (first, _) = harness.Start();
        var sent = new[] { "ok", "bad" }.ToDictionary(s => s, s => Enumerable.Range(0, 4).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        Produce(harness, sent, 0, 2);
        harness.StepUntil(() => harness.OutputCount("ok") == 2 && harness.OutputCount("bad") == 2, threads: first);
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        foreach (var p in Enumerable.Range(0, 4))
        {
            harness.Cluster.Produce(ProcessorHarness.Changelog, p, Encoding.UTF8.GetBytes("bad"), [2, 0xff, 0x13]);
        }

        var (second, health) = harness.Start();
        Produce(harness, sent, 2, 4);
        harness.StepUntil(() => harness.OutputCount("ok") == 4 && harness.OutputCount("bad") == 4, threads: second);

        ProcessorHarness.AssertReference(sent["ok"], harness.Outputs()["ok"]);

        // "bad" lost its state: seqs 2 and 3 are filtered from a fresh filter (after one counted gap), nothing crashed.
        var bad = harness.Outputs()["bad"];
        ProcessorHarness.AssertReference(sent["bad"][..2], bad[..2]);
        ProcessorHarness.AssertReference(sent["bad"][2..], bad[2..]);
        Assert.True(health.IsRunning);
    }

    /// <summary>
    /// Until 2026-12-04 a checkpoint whose envelope read well but whose filter state did not (its checksum, or a forged
    /// sample count near 2^63, which local mode wrapped to a negative one at the next chunk) was restored as it was: every
    /// later chunk of the stream was then dead-lettered (filter-failed, the state restored where it is used), forever.
    /// </summary>
    [Fact]
    public void A_checkpoint_whose_filter_state_is_invalid_keeps_its_position_and_its_filter_starts_fresh()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        using var corrupt = DocumentedMetric.Collect<long>(harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.restore.corrupt");
        var (first, _) = harness.Start();
        var sent = new[] { "ok", "corrupt", "forged", "nan" }.ToDictionary(s => s, s => Enumerable.Range(0, 4).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        Produce(harness, sent, 0, 2);
        harness.StepUntil(() => sent.Keys.All(s => harness.OutputCount(s) == 2), threads: first);
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);

        // Each stream's last checkpoint again, its filter state changed: one byte of it flipped (the checksum no longer
        // matches), a sample count one chunk short of overflowing, or a NaN estimate (what an older version, which did not
        // check a state's values, could commit), each with the checksum made to match.
        foreach (var stream in new[] { "corrupt", "forged", "nan" })
        {
            var last = harness.Cluster.ReadCommitted(ProcessorHarness.Changelog).Last(r => r.Message.Key is { } k && Encoding.UTF8.GetString(k) == stream);
            var checkpoint = StreamCheckpoint.Deserialize(last.Message.Value, ProcessorHarness.Input);
            var state = checkpoint.FilterState!.ToArray();
            if (stream == "corrupt")
            {
                state[20] ^= 0x40;
            }
            else
            {
                if (stream == "forged")
                {
                    BinaryPrimitives.WriteInt64LittleEndian(state.AsSpan(8), long.MaxValue - 10);
                }
                else
                {
                    BinaryPrimitives.WriteDoubleLittleEndian(state.AsSpan(16 + 4 * 8), double.NaN); // kalman: after the header and q, r, x0, p0
                }

                BinaryPrimitives.WriteUInt32LittleEndian(state.AsSpan(state.Length - 4), Crc32.HashToUInt32(state.AsSpan(0, state.Length - 4)));
            }

            harness.Cluster.Produce(ProcessorHarness.Changelog, last.Partition.Value, last.Message.Key, (checkpoint with { FilterState = state }).Serialize());
        }

        var (second, _) = harness.Start();

        // One chunk a transaction: a state saved after a wrap would fail at the next one.
        foreach (var seq in new[] { 2, 3 })
        {
            Produce(harness, sent, seq, seq + 1);
            harness.StepUntil(() => sent.Keys.All(s => harness.OutputCount(s) == seq + 1), threads: second);
        }

        Assert.Equal(3, corrupt.Sum());
        Assert.Empty(harness.DeadLetters());
        Assert.Equal(0L, harness.Telemetry.Gaps); // the position was kept: seq 2 follows on at once
        ProcessorHarness.AssertReference(sent["ok"], harness.Outputs()["ok"]);
        foreach (var stream in new[] { "corrupt", "forged", "nan" })
        {
            ProcessorHarness.AssertReference(sent[stream][..2], harness.Outputs()[stream][..2]);
            ProcessorHarness.AssertReference(sent[stream][2..], harness.Outputs()[stream][2..]); // from a fresh filter
        }
    }

    [Fact]
    public void AnIdleStreamIsEvictedAndTombstonedAndComesBackFresh()
    {
        using var harness = new ProcessorHarness(configure: o => (o.StreamIdleSeconds, o.MaxHeldChunks) = (60, 0));
        var (thread, _) = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("idle", 0), 2);
        harness.Produce(ProcessorHarness.Chunk("busy", 0), 2);
        harness.StepUntil(() => harness.OutputCount("idle") == 1 && harness.OutputCount("busy") == 1);

        harness.Time.Advance(TimeSpan.FromSeconds(40));
        harness.Produce(ProcessorHarness.Chunk("busy", 1), 2);
        harness.StepUntil(() => harness.OutputCount("busy") == 2);
        harness.Time.Advance(TimeSpan.FromSeconds(25));
        harness.StepUntil(() => thread.StreamCount == 1);

        var tombstone = Assert.Single(harness.Cluster.ReadCommitted(ProcessorHarness.Changelog), r => Encoding.UTF8.GetString(r.Message.Key) == "idle" && r.Message.Value is null);
        Assert.Equal(2, tombstone.Partition.Value);

        // Back after eviction: a new stream from seq 0 with a fresh filter.
        var again = ProcessorHarness.Chunk("idle", 0, 24);
        harness.Produce(again, 2);
        harness.StepUntil(() => harness.OutputCount("idle") == 2);
        ProcessorHarness.AssertReference([again], harness.Outputs()["idle"][1..]);
    }

    [Fact]
    public void HeldChunksAreReleasedAfterHeldChunkTimeoutSecondsAndTheGapIsCounted()
    {
        using var harness = new ProcessorHarness(configure: o => o.HeldChunkTimeoutSeconds = 30);
        var chunks = HoldAfterAGap(harness);
        harness.Step(3);
        Assert.Equal(1, harness.OutputCount("gap"));

        harness.Time.Advance(TimeSpan.FromSeconds(31));
        harness.StepUntil(() => harness.OutputCount("gap") == 3);
        AssertTheGapWasSkipped(harness, chunks);
    }

    [Fact]
    public void HeldChunksOfMoreStreamsThanMaxBatchRecordsTimingOutTogetherAreReleasedAtMostMaxBatchRecordsStreamsABatch()
    {
        // Twelve streams hold seq 2 after a gap, all since the same moment (as a restore leaves them): with
        // MaxBatchRecords 5 the held timeout releases five streams a batch (maintenance runs about once a second),
        // not all twelve in one transaction.
        using var harness = new ProcessorHarness(configure: o => (o.HeldChunkTimeoutSeconds, o.MaxBatchRecords) = (30, 5));
        var released = TwelveStreamsHoldingSinceTheSameMomentTimedOut(harness);
        harness.Step(3); // no more without the next maintenance (once a second)
        Assert.Equal(5, released());

        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.StepUntil(() => released() > 5);
        harness.Step(3);
        Assert.Equal(10, released());

        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.StepUntil(() => released() == 12);
        Assert.Equal(12, harness.Telemetry.Gaps);
    }

    [Fact]
    public void HeldChunksOfFewerStreamsThanMaxBatchRecordsTimingOutTogetherAreAllReleasedByOneBatch()
    {
        // The bound above only spreads what is over it: twelve streams under a bound of 100 are all released by the first
        // maintenance after the timeout, across the four partitions, in one transaction.
        using var harness = new ProcessorHarness(configure: o => (o.HeldChunkTimeoutSeconds, o.MaxBatchRecords) = (30, 100));
        var released = TwelveStreamsHoldingSinceTheSameMomentTimedOut(harness);
        Assert.Equal(12, released());
        Assert.Equal(12, harness.Telemetry.Gaps);
    }

    /// <summary>
    /// Twelve streams over four partitions each hold seq 2 after a gap, all since the same moment; then the held timeout
    /// passes and the processor runs until a first stream is released. Returns how many streams are released so far.
    /// </summary>
    private static Func<int> TwelveStreamsHoldingSinceTheSameMomentTimedOut(ProcessorHarness harness)
    {
        harness.Start();
        var streams = Enumerable.Range(0, 12).Select(i => $"held-{i}").ToList();
        foreach (var (stream, i) in streams.Select((s, i) => (s, i)))
        {
            harness.Produce(ProcessorHarness.Chunk(stream, 0), i % 4);
            harness.Produce(ProcessorHarness.Chunk(stream, 2), i % 4);
        }

        harness.StepUntil(() => streams.All(s => harness.OutputCount(s) == 1));
        harness.Step(10); // batches of 5 records: the last seq 2s may come after the last seq 0s, and must be held now
        int Released() => streams.Count(s => harness.OutputCount(s) == 2);
        Assert.Equal(0, Released());

        harness.Time.Advance(TimeSpan.FromSeconds(31));
        harness.StepUntil(() => Released() > 0);
        return Released;
    }

    [Fact]
    public void HeldChunksReleasedByTheTimeoutInAnAbortedTransactionAreReleasedAgainByTheRetry()
    {
        // The timeout's skip releases the held chunks; when that transaction aborts, the stream holds them again and
        // must still be timed from when they began to wait (not wait forever for the missing seq).
        using var harness = new ProcessorHarness(configure: o => o.HeldChunkTimeoutSeconds = 30);
        var chunks = HoldAfterAGap(harness);

        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable(), count: 1);
        harness.Time.Advance(TimeSpan.FromSeconds(31));
        harness.StepUntil(() => harness.Telemetry.Aborts == 1);
        harness.Time.Advance(TimeSpan.FromSeconds(2));
        harness.StepUntil(() => harness.OutputCount("gap") == 3);

        AssertTheGapWasSkipped(harness, chunks);
    }

    [Fact]
    public void HeldChunksWithLargeHeadersAreBoundedByWhatTheirCheckpointTakesAndSkippedUntilItFits()
    {
        // The checkpoint stores a held chunk's headers as well as its value: counted by value alone, these three held
        // chunks would make a checkpoint over message.max.bytes, refused on every retry of the batch. And a skip releases
        // only the run after the lowest gap (seq 2 here), so the bound is checked again after it.
        using var harness = new ProcessorHarness();
        harness.Cluster.MaxMessageBytes = 200_000;
        harness.Start(maxMessageBytes: 200_000);
        var chunks = Enumerable.Range(0, 7).Select(seq => ProcessorHarness.Chunk("held", seq)).ToList();
        void Produce(int seq, int headerBytes)
        {
            var message = SampleCodec.ToMessage(chunks[seq]);
            if (headerBytes > 0)
            {
                message.Headers.Add("big", new byte[headerBytes]);
            }

            harness.Cluster.Produce(ProcessorHarness.Input, 2, message.Key, message.Value, message.Headers);
        }

        Produce(0, 0);
        Produce(2, 0);
        Produce(4, 130_000);
        Produce(6, 130_000);
        harness.StepUntil(() => harness.OutputCount("held") == 3);
        Produce(5, 0);
        harness.StepUntil(() => harness.OutputCount("held") == 5);

        ProcessorHarness.AssertReference([chunks[0], chunks[2], chunks[4], chunks[5], chunks[6]], harness.Outputs()["held"]);
        Assert.Equal(0L, harness.Telemetry.Aborts);
    }

    [Fact]
    public void HeldChunksOfAllStreamsTogetherStopAtMaxHeldBytesAndTheStreamThatWouldPassItSkipsItsGap()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldBytes = 1_048_576);
        harness.Start();
        var ids = Enumerable.Range(0, 12).Select(i => $"h{i}").ToList();
        var chunks = ids.ToDictionary(id => id, id => Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk(id, seq)).ToList());
        foreach (var id in ids)
        {
            harness.Produce(chunks[id][0], 0);

            // seq 1 missing: seq 2 waits, about 100 KB of it with its headers.
            var message = SampleCodec.ToMessage(chunks[id][2]);
            message.Headers.Add("pad", new byte[100_000]);
            harness.Cluster.Produce(ProcessorHarness.Input, 0, message.Key, message.Value, message.Headers);
            harness.StepUntil(() => harness.OutputCount(id) >= 1);
        }

        // Ten streams' held chunks fit the instance's 1 MiB; the eleventh and twelfth would pass it: their gaps are skipped.
        harness.StepUntil(() => harness.OutputCount("h10") == 2 && harness.OutputCount("h11") == 2);
        Assert.All(ids[..10], id => Assert.Equal(1, harness.OutputCount(id)));
        Assert.InRange(harness.Telemetry.HeldBytes, 10 * 100_000, 1_048_576);

        // The holding streams go on as before once their seq 1 comes.
        foreach (var id in ids[..10])
        {
            harness.Produce(chunks[id][1], 0);
        }

        harness.StepUntil(() => ids[..10].All(id => harness.OutputCount(id) == 3));
        Assert.All(ids[..10], id => ProcessorHarness.AssertReference(chunks[id], harness.Outputs()[id]));
        ProcessorHarness.AssertReference([chunks["h10"][0], chunks["h10"][2]], harness.Outputs()["h10"]);
        Assert.Equal(0L, harness.Telemetry.HeldBytes);
    }

    [Fact]
    public void AnInstanceTakingOverMoreStreamsThanMaxStreamsRestoresTheMostRecentlyWrittenAndThoseHoldingChunks()
    {
        using var takeOver = new TakeOverHarness();
        takeOver.Dropped.AssertDocumented(typeof(Counter<>), "{stream}");
        var (harness, first, dropped) = (takeOver.Harness, takeOver.First, takeOver.Dropped);

        // Written to the changelog in this order, one batch each: "held" (holding seq 1 for the missing 0), then o0..o5.
        var held = Enumerable.Range(0, 2).Select(seq => ProcessorHarness.Chunk("held", seq)).ToList();
        harness.Produce(held[1], 1);
        harness.StepUntil(() => first.StreamCount == 1, threads: first);
        harness.Step(2, first);
        var quiet = Enumerable.Range(0, 6).Select(i => $"o{i}").ToDictionary(s => s, s => Enumerable.Range(0, 2).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        foreach (var (stream, chunks) in quiet)
        {
            harness.Produce(chunks[0], 1);
            harness.StepUntil(() => harness.OutputCount(stream) == 1, threads: first);
        }

        // A second instance, limited to 3 streams, takes over the 7: it keeps the two written last and "held", whose
        // chunk is committed nowhere else, and leaves out the 4 others.
        var (second, health) = takeOver.TakeOver();
        Assert.Equal(3, second.StreamCount);
        Assert.Equal(4, dropped.Sum());

        // A kept stream goes on with its state, "held" is released by its missing chunk, a left-out one meets the limit.
        harness.Produce(quiet["o5"][1], 1);
        harness.Produce(held[0], 1);
        harness.Produce(quiet["o0"][1], 1);
        harness.StepUntil(() => harness.OutputCount("o5") == 2 && harness.OutputCount("held") == 2 && harness.DeadLetters().Count == 1, threads: second);

        ProcessorHarness.AssertReference(quiet["o5"], harness.Outputs()["o5"]);
        ProcessorHarness.AssertReference(held, harness.Outputs()["held"]);
        Assert.Equal([("o0", PoisonCodes.TooManyStreams)], harness.DeadLetters().Select(d => (d.Key, d.Code)));
        Assert.True(health.IsRunning);
    }

    [Fact]
    public void ARestorePastMaxStreamsKeepsTheStreamsWrittenLastWhicheverPartitionTheyAreIn()
    {
        using var takeOver = new TakeOverHarness();
        var (harness, first, dropped) = (takeOver.Harness, takeOver.First, takeOver.Dropped);

        // Written a second apart: "live" in partition 0, then q0..q4 in partition 1, then "live" again: the stream
        // written last is alone in its partition (the chaos test's case: a live stream beside a flood's streams).
        var live = Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk("live", seq)).ToList();
        harness.Produce(live[0], 0);
        harness.StepUntil(() => harness.OutputCount("live") == 1, threads: first);
        var quiet = Enumerable.Range(0, 5).Select(i => $"q{i}").ToDictionary(s => s, s => Enumerable.Range(0, 2).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        foreach (var (stream, chunks) in quiet)
        {
            harness.Time.Advance(TimeSpan.FromSeconds(1));
            harness.Produce(chunks[0], 1);
            harness.StepUntil(() => harness.OutputCount(stream) == 1, threads: first);
        }

        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.Produce(live[1], 0);
        harness.StepUntil(() => harness.OutputCount("live") == 2, threads: first);

        // A second instance, limited to 3 streams, takes over the 6: it keeps "live", q4 and q3, the three written last,
        // however its readers interleave the two partitions.
        var (second, health) = takeOver.TakeOver();
        Assert.Equal(3, second.StreamCount);
        Assert.Equal(3, dropped.Sum());

        harness.Produce(live[2], 0);
        harness.Produce(quiet["q4"][1], 1);
        harness.Produce(quiet["q0"][1], 1);
        harness.StepUntil(() => harness.OutputCount("live") == 3 && harness.OutputCount("q4") == 2 && harness.DeadLetters().Count == 1, threads: second);

        ProcessorHarness.AssertReference(live, harness.Outputs()["live"]);
        ProcessorHarness.AssertReference(quiet["q4"], harness.Outputs()["q4"]);
        Assert.Equal([("q0", PoisonCodes.TooManyStreams)], harness.DeadLetters().Select(d => (d.Key, d.Code)));
        Assert.True(health.IsRunning);
    }

    [Fact]
    public void ARestorePastMaxStreamsCountsAStreamWhoseLaterCheckpointHoldsNothingAgainstTheLimit()
    {
        // Each stream's first checkpoint held a chunk (seq 1 before seq 0) and its last one holds nothing. Before, the
        // first checkpoint let each stream in past the limit (held chunks are committed nowhere else) and the last one
        // then only replaced it, so the restore kept all six, none holding a chunk.
        using var takeOver = new TakeOverHarness();
        var (harness, first, dropped) = (takeOver.Harness, takeOver.First, takeOver.Dropped);
        var ids = Enumerable.Range(0, 6).Select(i => $"r{i}").ToList();
        var chunks = ids.ToDictionary(id => id, id => Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk(id, seq)).ToList());
        foreach (var id in ids)
        {
            harness.Produce(chunks[id][1], 1);
        }

        harness.StepUntil(() => first.StreamCount == ids.Count, threads: first);
        harness.Step(2, first);
        foreach (var id in ids)
        {
            harness.Time.Advance(TimeSpan.FromSeconds(1));
            harness.Produce(chunks[id][0], 1);
            harness.StepUntil(() => harness.OutputCount(id) == 2, threads: first);
        }

        // A second instance, limited to 3 streams, keeps the three written last and leaves out the others.
        var (second, health) = takeOver.TakeOver();
        Assert.Equal(3, second.StreamCount);
        Assert.Equal(3, dropped.Sum());

        harness.Produce(chunks["r5"][2], 1);
        harness.Produce(chunks["r0"][2], 1);
        harness.StepUntil(() => harness.OutputCount("r5") == 3 && harness.DeadLetters().Count == 1, threads: second);
        ProcessorHarness.AssertReference(chunks["r5"], harness.Outputs()["r5"]);
        Assert.Equal([("r0", PoisonCodes.TooManyStreams)], harness.DeadLetters().Select(d => (d.Key, d.Code)));
        Assert.True(health.IsRunning);
    }

    [Fact]
    public void ANewStreamPastMaxStreamBytesIsDeadLetteredUntilIdleStreamsAreEvicted()
    {
        // Stream ids are the producers' choice (up to 256 bytes): three streams with 200-character ids take more than a
        // budget of two and a half, while the count (Processor:MaxStreams, 1,000,000) leaves room. Before, only the count
        // was bounded.
        var ids = new[] { new string('a', 200), new string('b', 200), new string('c', 200) };
        var perStream = StreamState.BytesOf(ids[0]) + KalmanStateBytes;
        using var harness = new ProcessorHarness(configure: o =>
        {
            o.MaxStreamBytes = 2 * perStream + perStream / 2;
            o.StreamIdleSeconds = 60;
        });
        using var bytes = DocumentedMetric.Collect<long>(harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.streams.bytes")
            .AssertDocumented(typeof(ObservableGauge<>), "By");
        harness.Start();
        var chunks = ids.ToDictionary(id => id, id => Enumerable.Range(0, 2).Select(seq => ProcessorHarness.Chunk(id, seq)).ToList());
        harness.Produce(chunks[ids[0]][0], 0);
        harness.Produce(chunks[ids[1]][0], 1);
        harness.StepUntil(() => harness.OutputCount(ids[0]) == 1 && harness.OutputCount(ids[1]) == 1);

        // Each stream counts its id and its committed filter state.
        Assert.Equal(2 * perStream, bytes.Observe());

        harness.Produce(chunks[ids[2]][0], 2);
        harness.Produce(chunks[ids[0]][1], 0);
        harness.StepUntil(() => harness.OutputCount(ids[0]) == 2 && harness.DeadLetters().Count == 1);
        Assert.Equal([(ids[2], PoisonCodes.TooManyStreams)], harness.DeadLetters().Select(d => (d.Key, d.Code)));
        Assert.Contains("Processor:MaxStreamBytes", harness.DeadLetters()[0].Reason);
        Assert.Equal(2 * perStream, bytes.Observe());

        // Evicted idle streams free what they took: the refused stream starts with its chunk sent again.
        harness.Time.Advance(TimeSpan.FromSeconds(61));
        harness.StepUntil(() => bytes.Observe() == 0);
        harness.Produce(chunks[ids[2]][0], 2);
        harness.StepUntil(() => harness.OutputCount(ids[2]) == 1);
        ProcessorHarness.AssertReference([chunks[ids[2]][0]], harness.Outputs()[ids[2]]);
        Assert.Equal(perStream, bytes.Observe());
    }

    [Fact]
    public void TheNewStreamsOfOneBatchCountTheFilterStateTheyWillCommitAgainstMaxStreamBytes()
    {
        // rls at order 64 commits a state of about 33 KB a stream. Until 2026-12-06 a new stream counted only its id until
        // its first commit, so every new stream of one batch was taken (here three where two and a half fit; a batch of
        // thousands could pass the limit by as many states).
        var ids = new[] { "s0", "s1", "s2" };
        var config = SignalPipeline.Filters.StreamFilterConfig.Create("rls", new Dictionary<string, double> { ["order"] = 64 });
        var perStream = StreamState.BytesOf(ids[0]) + config.StateBytes;
        Assert.True(config.StateBytes > 30_000, $"{config.StateBytes}");
        using var harness = new ProcessorHarness(configure: o =>
        {
            (o.Algorithm, o.Params) = ("rls", new() { ["order"] = 64 });
            o.MaxStreamBytes = 2 * perStream + perStream / 2;
        });
        harness.Start();
        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            harness.Produce(ProcessorHarness.Chunk(id, 0), i);
        }

        harness.StepUntil(() => harness.OutputCount(ids[0]) + harness.OutputCount(ids[1]) + harness.OutputCount(ids[2]) + harness.DeadLetters().Count == 3);
        Assert.Equal(PoisonCodes.TooManyStreams, Assert.Single(harness.DeadLetters()).Code);
        Assert.Contains($"this one would take {perStream} more", harness.DeadLetters()[0].Reason);
        Assert.Equal(2, ids.Count(id => harness.OutputCount(id) == 1));
    }

    [Fact]
    public void NewStreamsOfAnAbortedTransactionGiveBackWhatTheyCountedAgainstMaxStreamBytes()
    {
        // The first transaction of two new streams aborts: they are forgotten with it, and their retry counts them once.
        var ids = new[] { new string('a', 100), new string('b', 100) };
        var perStream = StreamState.BytesOf(ids[0]) + KalmanStateBytes;
        using var harness = new ProcessorHarness(configure: o => o.MaxStreamBytes = 2 * perStream + perStream / 2);
        using var bytes = DocumentedMetric.Collect<long>(harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.streams.bytes");
        harness.Start();
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable(), count: 1);
        var chunks = ids.Select(id => ProcessorHarness.Chunk(id, 0)).ToList();
        harness.Produce(chunks[0], 0);
        harness.Produce(chunks[1], 1);
        harness.StepUntil(() => harness.Telemetry.Aborts == 1);
        harness.StepUntil(() => harness.OutputCount(ids[0]) == 1 && harness.OutputCount(ids[1]) == 1);

        Assert.Equal(2 * perStream, bytes.Observe());
        Assert.Empty(harness.DeadLetters());
    }

    [Fact]
    public void ARestorePastMaxStreamBytesLeavesOutAsManyOfTheLeastRecentlyWrittenAsALargerStreamNeeds()
    {
        // q0..q4 (short ids), then a stream with a 250-character id, written a second apart. A second instance whose
        // streams may take the bytes of the long one and two and a half short ones keeps the three written last (the
        // long one, q4, q3): to fit, the long one takes the place of three.
        using var takeOver = new TakeOverHarness();
        var (harness, first, dropped) = (takeOver.Harness, takeOver.First, takeOver.Dropped);
        var longId = new string('l', 250);
        var ids = Enumerable.Range(0, 5).Select(i => $"q{i}").Append(longId).ToList();
        var chunks = ids.ToDictionary(id => id, id => Enumerable.Range(0, 2).Select(seq => ProcessorHarness.Chunk(id, seq)).ToList());
        foreach (var id in ids)
        {
            harness.Time.Advance(TimeSpan.FromSeconds(1));
            harness.Produce(chunks[id][0], 1);
            harness.StepUntil(() => harness.OutputCount(id) == 1, threads: first);
        }

        var small = StreamState.BytesOf("q0") + KalmanStateBytes;
        var large = StreamState.BytesOf(longId) + KalmanStateBytes;
        var (second, health) = takeOver.TakeOver(maxStreams: 1000, maxStreamBytes: large + 2 * small + small / 2);
        Assert.Equal(3, second.StreamCount);
        Assert.Equal(3, dropped.Sum());

        harness.Produce(chunks[longId][1], 1);
        harness.Produce(chunks["q3"][1], 1);
        harness.Produce(chunks["q0"][1], 1);
        harness.StepUntil(() => harness.OutputCount(longId) == 2 && harness.OutputCount("q3") == 2 && harness.DeadLetters().Count == 1, threads: second);
        ProcessorHarness.AssertReference(chunks[longId], harness.Outputs()[longId]);
        ProcessorHarness.AssertReference(chunks["q3"], harness.Outputs()["q3"]);
        Assert.Equal([("q0", PoisonCodes.TooManyStreams)], harness.DeadLetters().Select(d => (d.Key, d.Code)));
        Assert.Contains("Processor:MaxStreamBytes", harness.DeadLetters()[0].Reason);
        Assert.True(health.IsRunning);
    }

    [Fact]
    public void WhatAStreamCountsIsWhatCreatingItAllocates()
    {
        // Processor:MaxStreamBytes counts StreamState.FixedBytes a stream besides its id and its filter state: what a
        // restored kalman stream with a 36-character id allocates (its objects and its share of the partition's
        // dictionary, growth included) within a quarter. Counted on this thread alone, so other tests do not disturb it.
        const int streams = 50_000;
        var state = SignalPipeline.Filters.FilterFactory.Create("kalman").SaveState();
        var partition = new PartitionState(0, -1, 0);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < streams; i++)
        {
            var id = Guid.NewGuid().ToString();
            partition.Add(new StreamState(id, 1, null, [.. state]).Committed(), i);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(36 * 2 + StreamState.FixedBytes + state.Length, partition.Bytes / streams);
        Assert.InRange((double)partition.Bytes / allocated, 0.75, 1.25);
    }

    /// <summary>What a kalman stream's committed filter state takes (the harness's default algorithm and parameters).</summary>
    private static int KalmanStateBytes => SignalPipeline.Filters.FilterFactory.Create("kalman", new Dictionary<string, double>()).SaveState().Length;

    [Fact]
    public void ARestoreKeepsHeldChunksWithinMaxHeldBytesAndSkipsTheGapsOfTheStreamsWrittenPastIt()
    {
        // Six streams each hold about 300 KB (seq 1 waits for seq 0), written a second apart; a new owner limited to
        // 1 MiB keeps the three written first, as the live path would have, and skips the gaps of the three others in
        // its first batch. Before, a restore reloaded and kept every held chunk whatever Processor:MaxHeldBytes said.
        var maxHeldBytes = 256L * 1024 * 1024;
        using var harness = new ProcessorHarness(configure: o =>
        {
            o.MaxHeldBytes = maxHeldBytes;
            o.HeldChunkTimeoutSeconds = 0;
        });
        var (first, _) = harness.Start();
        var ids = Enumerable.Range(0, 6).Select(i => $"h{i}").ToList();
        var chunks = ids.ToDictionary(id => id, id => Enumerable.Range(0, 2).Select(seq => ProcessorHarness.Chunk(id, seq)).ToList());
        foreach (var id in ids)
        {
            harness.Time.Advance(TimeSpan.FromSeconds(1));
            var message = SampleCodec.ToMessage(chunks[id][1]);
            message.Headers.Add("pad", new byte[300_000]);
            harness.Cluster.Produce(ProcessorHarness.Input, 2, message.Key, message.Value, message.Headers);
            harness.StepUntil(() => first.StreamCount == ids.IndexOf(id) + 1, threads: first);
            harness.Step(2, first);
        }

        Assert.InRange(harness.Telemetry.HeldBytes, 6 * 300_000, long.MaxValue);
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        maxHeldBytes = 1_048_576;
        var gaps = harness.Telemetry.Gaps;
        var (second, health) = harness.Start();
        harness.StepUntil(() => second.AssignedPartitions.Count == 4, threads: second);
        harness.Time.Advance(TimeSpan.FromSeconds(1)); // the next maintenance (once a second)
        harness.StepUntil(() => ids[3..].All(id => harness.OutputCount(id) == 1), threads: second);

        Assert.All(ids[..3], id => Assert.Equal(0, harness.OutputCount(id)));
        Assert.Equal(gaps + 3, harness.Telemetry.Gaps);
        Assert.InRange(harness.Telemetry.HeldBytes, 3 * 300_000, maxHeldBytes);
        Assert.All(ids[3..], id => ProcessorHarness.AssertReference([chunks[id][1]], harness.Outputs()[id]));

        // The streams that kept their chunks go on as before once their seq 0 comes.
        foreach (var id in ids[..3])
        {
            harness.Produce(chunks[id][0], 2);
        }

        harness.StepUntil(() => ids[..3].All(id => harness.OutputCount(id) == 2), threads: second);
        Assert.All(ids[..3], id => ProcessorHarness.AssertReference(chunks[id], harness.Outputs()[id]));
        Assert.Equal(0L, harness.Telemetry.HeldBytes);
        Assert.True(health.IsRunning);
    }

    [Fact]
    public void HeldChunksSurviveARestartInTheCheckpoint()
    {
        using var harness = new ProcessorHarness();
        var (first, _) = harness.Start();
        var chunks = Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk("held", seq)).ToList();
        harness.Produce(chunks[0], 3);
        harness.Produce(chunks[2], 3);
        harness.StepUntil(() => harness.OutputCount("held") == 1, threads: first);
        harness.Step(2, first);
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);

        var (second, _) = harness.Start();
        harness.Produce(chunks[1], 3);
        harness.StepUntil(() => harness.OutputCount("held") == 3, threads: second);
        ProcessorHarness.AssertReference(chunks, harness.Outputs()["held"]);
    }

    [Fact]
    public void SeqsUpToTheLargestAreProcessedAndRestoredAndOneMoreIsRefused()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        var (first, _) = harness.Start();
        var max = StreamSequence<object>.MaxSeq;
        var chunks = new[] { max - 2, max - 1, max }.Select(seq => ProcessorHarness.Chunk("edge", seq)).ToList();
        harness.Produce(chunks[0], 0);
        harness.Produce(chunks[1], 0);
        harness.StepUntil(() => harness.OutputCount("edge") == 2, threads: first);
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);

        var (second, health) = harness.Start();
        harness.Produce(chunks[2], 0);
        harness.ProduceRaw("edge", $$"""{"stream_id":"edge","seq":{{long.MaxValue}},"signal":[1]}""", 0);
        harness.StepUntil(() => harness.OutputCount("edge") == 3 && harness.DeadLetters().Count == 1, threads: second);

        ProcessorHarness.AssertReference(chunks, harness.Outputs()["edge"]);
        Assert.Equal(PoisonCodes.SeqOutOfRange, harness.DeadLetters()[0].Code);
        Assert.True(health.IsRunning);
    }

    [Fact]
    public void AMemberJoiningMidStreamMovesPartitionsWithoutLossOrDuplicates()
    {
        using var harness = new ProcessorHarness(partitions: 4);
        var (first, _) = harness.Start();
        var streams = Enumerable.Range(0, 12).Select(i => $"m{i}").ToArray();
        var sent = streams.ToDictionary(s => s, s => Enumerable.Range(0, 8).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        Produce(harness, sent, 0, 4);
        harness.StepUntil(() => streams.All(s => harness.OutputCount(s) == 4), threads: first);

        var (second, _) = harness.Start();
        Produce(harness, sent, 4, 8);
        harness.StepUntil(() => streams.All(s => harness.OutputCount(s) == 8));

        Assert.True(first.AssignedPartitions.Count > 0 && second.AssignedPartitions.Count > 0, "Both members should own partitions.");
        var outputs = harness.Outputs();
        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, outputs[stream]);
        }
    }

    [Fact]
    public async Task AZombieThatWakesUpAfterItsPartitionsMovedCannotCommit()
    {
        using var harness = new ProcessorHarness(partitions: 2);
        var (zombie, _) = harness.Start(instanceId: "zombie");
        var sent = new[] { "z0", "z1" }.ToDictionary(s => s, s => Enumerable.Range(0, 4).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        Produce(harness, sent, 0, 2);
        harness.StepUntil(() => harness.OutputCount("z0") == 2 && harness.OutputCount("z1") == 2, threads: zombie);

        // The zombie freezes just before it sends its offsets; its session expires and a new owner takes over.
        var stall = harness.Cluster.Faults.Stall(FaultPoint.SendOffsets, c => c.Owner?.EndsWith("zombie", StringComparison.Ordinal) == true);
        Produce(harness, sent, 2, 4);
        var frozen = Task.Run(() => zombie.Step(CancellationToken.None));
        await stall.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        var (owner, _) = harness.Start(instanceId: "owner");
        var ownerGroupOffsets = () => harness.Cluster.CommittedOffsets(global::FilterKafkaProcessor.ProcessorOptions.ConsumerGroup).Values.Sum();
        harness.StepUntil(() => ownerGroupOffsets() == 8, threads: owner);

        // Until the zombie's open transaction ends, read_committed readers stop at it (as on a real cluster); it wakes
        // up, its offsets are refused (stale group generation), it aborts, and nothing it wrote becomes visible.
        stall.Release();
        await frozen.WaitAsync(TimeSpan.FromSeconds(30));
        harness.StepUntil(() => harness.OutputCount("z0") == 4 && harness.OutputCount("z1") == 4, threads: [zombie, owner]);
        harness.Step(3, zombie, owner);

        var outputs = harness.Outputs();
        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, outputs[stream]);
        }

        // Its refused commit was aborted (it may rejoin the group afterwards as a new member, as librdkafka does).
        Assert.True(harness.Telemetry.Aborts >= 1, "The zombie's transaction should have been aborted.");
    }

    /// <summary>Starts the harness; stream "gap" gets seqs 0, 2 and 3 (seq 1 missing): 0 is written, 2 and 3 are held.</summary>
    /// <summary>
    /// An instance taking over more streams than its limit: the first instance may hold 1000 streams; <see cref="TakeOver"/>
    /// expires it and starts a second limited to 3 (or what it is given), which restores every partition. With the
    /// restore.dropped counter.
    /// </summary>
    private sealed class TakeOverHarness : IDisposable
    {
        private int _maxStreams = 1000;
        private long _maxStreamBytes = new ProcessorOptions().MaxStreamBytes;

        public TakeOverHarness()
        {
            Harness = new ProcessorHarness(configure: o =>
            {
                o.MaxStreams = _maxStreams;
                o.MaxStreamBytes = _maxStreamBytes;
            });
            Dropped = DocumentedMetric.Collect<long>(Harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.restore.dropped");
            First = Harness.Start().Thread;
        }

        public ProcessorHarness Harness { get; }

        public MetricCollector<long> Dropped { get; }

        public StreamThread First { get; }

        /// <summary>The first instance dies (its session expires); a second, limited to 3 streams (or what it is given), restores every partition.</summary>
        public (StreamThread Thread, ProcessorHealth Health) TakeOver(int maxStreams = 3, long? maxStreamBytes = null)
        {
            Harness.Cluster.ExpireMember(Harness.Supplier.Consumers[0]);
            _maxStreams = maxStreams;
            _maxStreamBytes = maxStreamBytes ?? _maxStreamBytes;
            var (second, health) = Harness.Start();
            Harness.StepUntil(() => second.AssignedPartitions.Count == 4, threads: second);
            return (second, health);
        }

        public void Dispose()
        {
            Dropped.Dispose();
            Harness.Dispose();
        }
    }

    private static List<SampleChunk> HoldAfterAGap(ProcessorHarness harness)
    {
        harness.Start();
        var chunks = Enumerable.Range(0, 4).Select(seq => ProcessorHarness.Chunk("gap", seq)).ToList();
        harness.Produce(chunks[0], 1);
        harness.Produce(chunks[2], 1);
        harness.Produce(chunks[3], 1);
        harness.StepUntil(() => harness.OutputCount("gap") == 1);
        return chunks;
    }

    /// <summary>Seqs 0, 2 and 3 were written, each once and in order, after one skipped gap.</summary>
    private static void AssertTheGapWasSkipped(ProcessorHarness harness, List<SampleChunk> chunks)
    {
        ProcessorHarness.AssertReference([chunks[0], chunks[2], chunks[3]], harness.Outputs()["gap"]);
        Assert.Equal(1, harness.Telemetry.Gaps);
    }

    private static void Produce(ProcessorHarness harness, Dictionary<string, List<SampleChunk>> sent, int from, int to)
    {
        for (var seq = from; seq < to; seq++)
        {
            foreach (var (stream, chunks) in sent)
            {
                harness.Produce(chunks[seq], Math.Abs(stream.GetHashCode(StringComparison.Ordinal)) % harness.Cluster.PartitionCount(ProcessorHarness.Input)!.Value);
            }
        }
    }
}
