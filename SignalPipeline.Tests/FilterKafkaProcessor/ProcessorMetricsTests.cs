using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using FilterKafkaProcessor;
using FilterKafkaProcessor.State;
using FilterKafkaProcessor.Streaming;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using SignalPipeline.Messages;
using SignalPipeline.Tests.FilterKafkaProcessor.Fakes;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// Each instrument of docs/processor.md's Telemetry table, read by its exported name from the harness's own meters
/// (name, kind, unit, tags, and the count the behaviour must give), over the in-memory cluster: no broker, no sleeps.
/// </summary>
public sealed class ProcessorMetricsTests
{
    [Fact]
    public void A_committed_batch_counts_samples_chunks_records_latency_and_streams()
    {
        using var harness = new ProcessorHarness();
        using var samples = Collect<long>(harness, "samples").AssertDocumented(typeof(Counter<>), "{sample}");
        using var chunks = Collect<long>(harness, "chunks").AssertDocumented(typeof(Counter<>), "{chunk}");
        using var batchSize = Collect<long>(harness, "batch.size").AssertDocumented(typeof(Histogram<>), "{record}");
        using var latency = Collect<double>(harness, "latency").AssertDocumented(typeof(Histogram<>), "ms");
        using var streams = Collect<long>(harness, "streams").AssertDocumented(typeof(ObservableGauge<>), "{stream}");
        harness.Start();

        // Latency is commit time minus timestamp_ms on the wall clock: the chunks say they were made 5 s before now.
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var stamp = before - 5_000;
        var sent = new[] { "a", "b" }.SelectMany(s => Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk(s, seq, samples: 10 + seq) with { TimestampMs = stamp })).ToList();
        sent.ForEach(c => harness.Produce(c, c.StreamId == "a" ? 0 : 1));
        harness.StepUntil(() => harness.OutputCount("a") == 3 && harness.OutputCount("b") == 3);
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        Assert.Equal(2 * (10 + 11 + 12), samples.Sum());
        Assert.Equal(6, chunks.Sum());
        Assert.Equal(6, batchSize.Sum());
        Assert.All(batchSize.Matching(), m => Assert.InRange(m.Value, 1, 6));
        Assert.Equal(6, latency.Matching().Count);
        Assert.All(latency.Matching(), m => Assert.InRange(m.Value, before - stamp, after - stamp));
        Assert.Equal(2, streams.Observe());
    }

    [Fact]
    public void The_filtered_samples_arrays_kept_between_batches_are_counted_after_each_batch()
    {
        using var harness = new ProcessorHarness();
        using var kept = Collect<long>(harness, "output_arrays.bytes").AssertDocumented(typeof(ObservableGauge<>), "By");
        harness.Start();
        Assert.Equal(0, kept.Observe());

        // 1,000 samples are filtered into an array of 1,024 (a power of two), given back after the commit and kept.
        harness.Produce(ProcessorHarness.Chunk("k", 0, samples: 1000), 0);
        harness.StepUntil(() => harness.OutputCount("k") == 1);
        Assert.Equal(1024 * sizeof(double), kept.Observe());

        // The next batch's 100 samples take an array of 128: the one of 1,024 stays kept beside it.
        harness.Produce(ProcessorHarness.Chunk("k", 1, samples: 100), 0);
        harness.StepUntil(() => harness.OutputCount("k") == 2);
        Assert.Equal((1024 + 128) * sizeof(double), kept.Observe());
    }

    [Fact]
    public async Task A_commit_is_timed_on_its_own_thread_and_where_the_stream_thread_waits_for_it()
    {
        using var harness = new ProcessorHarness();
        using var duration = Collect<double>(harness, "commit.duration").AssertDocumented(typeof(Histogram<>), "ms");
        using var wait = Collect<double>(harness, "commit.wait").AssertDocumented(typeof(Histogram<>), "ms");
        var (thread, _) = harness.Start();
        harness.StepUntil(() => thread.AssignedPartitions.Count > 0);
        harness.Produce(ProcessorHarness.Chunk("c", 0), 0);
        harness.StepUntil(() => harness.Telemetry.Transactions > 0);
        Assert.Equal(harness.Telemetry.Transactions, duration.Matching().Count);
        Assert.Equal(harness.Telemetry.Transactions, wait.Matching().Count);

        // The next commit is held at the broker for about 500 ms: it is timed from its hand-off, so all of the hold counts
        // (timed here on the same monotonic clock: Task.Delay may end a little early), and the stream thread, with nothing
        // more fetched to take meanwhile, waits for it (most of it: the 250 ms bound leaves the thread time to get there
        // on a loaded machine).
        var committed = (int)harness.Telemetry.Transactions;
        var stall = harness.Cluster.Faults.Stall(FaultPoint.CommitTransaction);
        harness.Produce(ProcessorHarness.Chunk("c", 1), 0);
        var step = Task.Run(() => harness.StepUntil(() => harness.Telemetry.Transactions > committed));
        await stall.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        var holding = Stopwatch.GetTimestamp();
        await Task.Delay(500);
        var held = Stopwatch.GetElapsedTime(holding);
        stall.Release();
        await step.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(committed + 1, duration.Matching().Count);
        Assert.InRange(duration.Matching()[committed].Value, held.TotalMilliseconds, 30_000);
        Assert.InRange(wait.Matching()[committed].Value, 250, 30_000);
        Assert.True(harness.Telemetry.CommitMicros >= (long)held.TotalMicroseconds, $"CommitMicros {harness.Telemetry.CommitMicros}, held {held}");
        Assert.True(harness.Telemetry.CommitWaitMicros >= 250_000, $"CommitWaitMicros {harness.Telemetry.CommitWaitMicros}");
    }

    [Fact]
    public void The_streams_gauge_drops_the_streams_of_partitions_taken_away_without_waiting_for_a_commit()
    {
        // docs/processor.md: "streams held by this instance". An instance whose partitions go elsewhere (its session
        // expired here; a rebalance likewise) no longer holds their streams, though no batch of its own commits after.
        using var harness = new ProcessorHarness();
        using var streams = Collect<long>(harness, "streams").AssertDocumented(typeof(ObservableGauge<>), "{stream}");
        var (thread, _) = harness.Start();
        foreach (var (id, partition) in new[] { ("a", 0), ("b", 1), ("c", 2) })
        {
            harness.Produce(ProcessorHarness.Chunk(id, 0), partition);
        }

        harness.StepUntil(() => harness.OutputCount("a") == 1 && harness.OutputCount("b") == 1 && harness.OutputCount("c") == 1);
        Assert.Equal(3, streams.Observe());

        // Its next step meets the expiry: the partitions are lost (it rejoins, and restores them only at the step after).
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        thread.Step(CancellationToken.None);
        Assert.Equal(0, thread.StreamCount);
        Assert.Equal(thread.StreamCount, streams.Observe());
    }

    [Fact]
    public void Dead_letters_are_counted_by_error_code()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        using var deadLetters = Collect<long>(harness, "dead_letters").AssertDocumented(typeof(Counter<>), "{record}");
        harness.Start();
        harness.Produce(ProcessorHarness.Chunk("p", 0), 0);
        harness.ProduceRaw("p", """{"stream_id":"p","seq":1,"signal":[1,2""", 0);
        harness.ProduceRaw("p", """{"stream_id":"p","seq":1,"signal":[]}""", 0);
        harness.ProduceRaw("q", """{"stream_id":"q","seq":0,"signal":[]}""", 1);
        harness.Produce(ProcessorHarness.Chunk("p", 1), 0);

        harness.StepUntil(() => harness.OutputCount("p") == 2 && harness.DeadLetters().Count == 3);

        Assert.Equal(1, deadLetters.Sum(("error.code", "malformed-json")));
        Assert.Equal(2, deadLetters.Sum(("error.code", "empty-signal")));
        Assert.Equal(3, deadLetters.Sum());
    }

    [Fact]
    public void A_repeated_seq_counts_a_duplicate_and_a_skipped_gap_counts_gaps_and_skipped_seqs()
    {
        using var harness = new ProcessorHarness(configure: o => o.HeldChunkTimeoutSeconds = 30);
        using var duplicates = Collect<long>(harness, "duplicates").AssertDocumented(typeof(Counter<>), "{chunk}");
        using var gaps = Collect<long>(harness, "gaps").AssertDocumented(typeof(Counter<>), "{gap}");
        using var skipped = Collect<long>(harness, "skipped_seqs").AssertDocumented(typeof(Counter<>), "{chunk}");
        using var held = Collect<long>(harness, "held.bytes").AssertDocumented(typeof(ObservableGauge<>), "By");
        harness.Start();
        harness.Produce(ProcessorHarness.Chunk("d", 0), 1);
        harness.Produce(ProcessorHarness.Chunk("d", 0), 1);
        harness.Produce(ProcessorHarness.Chunk("d", 1), 1);
        var waiting = SampleCodec.ToMessage(ProcessorHarness.Chunk("d", 4));
        harness.Produce(ProcessorHarness.Chunk("d", 4), 1);
        harness.StepUntil(() => harness.OutputCount("d") == 2);
        Assert.Equal(1, duplicates.Sum());
        Assert.Equal(0, gaps.Sum());

        // seq 4 is held: what it takes in the checkpoint, its value and headers.
        Assert.Equal(StreamCheckpoint.HeldChunkBytes(waiting.Value, [.. waiting.Headers.Select(h => KeyValuePair.Create<string, byte[]?>(h.Key, h.GetValueBytes()))]), held.Observe());

        // seqs 2 and 3 never come: after HeldChunkTimeoutSeconds the stream skips them, one gap of two seqs.
        harness.Time.Advance(TimeSpan.FromSeconds(31));
        harness.StepUntil(() => harness.OutputCount("d") == 3);
        Assert.Equal(1, gaps.Sum());
        Assert.Equal(2, skipped.Sum());
        Assert.Equal(1, duplicates.Sum());
        Assert.Equal(0, held.Observe());
    }

    [Fact]
    public void The_consumer_lag_counts_input_records_past_the_committed_position_once_a_second()
    {
        using var harness = new ProcessorHarness();
        using var lag = Collect<long>(harness, "consumer.lag").AssertDocumented(typeof(ObservableGauge<>), "{record}");
        using var aborted = Collect<long>(harness, "transactions.aborted");
        harness.Start();

        // Three records read but not committed (their commit fails three times): three behind the high watermark.
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable(), count: 3);
        harness.Produce(ProcessorHarness.Chunk("l", 0), 0);
        harness.Produce(ProcessorHarness.Chunk("l", 1), 0);
        harness.Produce(ProcessorHarness.Chunk("m", 0), 1);
        harness.StepUntil(() => aborted.Sum() == 1);
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.Step();
        Assert.Equal(3, lag.Observe());

        // Committed: none behind, once the next second's step has looked.
        Assert.Equal(2, aborted.Sum());
        harness.StepUntil(() => harness.OutputCount("l") == 2 && harness.OutputCount("m") == 1);
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.Step();
        Assert.Equal(0, lag.Observe());
    }

    [Fact]
    public void The_consumer_lag_does_not_count_records_deleted_before_the_committed_position()
    {
        using var harness = new ProcessorHarness();
        using var lag = Collect<long>(harness, "consumer.lag");
        using var aborted = Collect<long>(harness, "transactions.aborted");

        // Five records on partition 0, nothing committed, the first three gone (retention): two are there to read.
        foreach (var stream in new[] { "a", "b", "c", "d", "e" })
        {
            harness.Produce(ProcessorHarness.Chunk(stream, 0), 0);
        }

        harness.Cluster.DeleteRecords(ProcessorHarness.Input, 0, 3);
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable(), count: 3);
        harness.Start();
        harness.StepUntil(() => aborted.Sum() == 1);
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.Step();

        // Until 2026-12-06 a partition with no committed position was counted from offset 0: 5.
        Assert.Equal(2, lag.Observe());
    }

    [Theory]
    [InlineData("abortable")]
    [InlineData("fatal")]
    public void An_aborted_transaction_is_counted_by_failure(string failure)
    {
        using var harness = new ProcessorHarness();
        using var aborted = Collect<long>(harness, "transactions.aborted").AssertDocumented(typeof(Counter<>), "{transaction}");
        harness.Start();
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, failure == "fatal" ? () => KafkaFaults.Fatal() : () => KafkaFaults.Abortable(), count: 2);
        harness.Produce(ProcessorHarness.Chunk("t", 0), 0);

        harness.StepUntil(() => harness.OutputCount("t") == 1);

        Assert.Equal(0, harness.Cluster.Faults.Pending);
        Assert.Equal(2, aborted.Sum(("failure", failure)));
        Assert.Equal(2, aborted.Sum());
    }

    [Fact]
    public void An_idle_stream_evicted_is_counted_and_leaves_the_streams_gauge()
    {
        using var harness = new ProcessorHarness(configure: o => (o.StreamIdleSeconds, o.MaxHeldChunks) = (60, 0));
        using var evicted = Collect<long>(harness, "streams.evicted").AssertDocumented(typeof(Counter<>), "{stream}");
        using var streams = Collect<long>(harness, "streams");
        var (thread, _) = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("idle", 0), 2);
        harness.Produce(ProcessorHarness.Chunk("busy", 0), 2);
        harness.StepUntil(() => harness.OutputCount("idle") == 1 && harness.OutputCount("busy") == 1);
        Assert.Equal(2, streams.Observe());

        harness.Time.Advance(TimeSpan.FromSeconds(40));
        harness.Produce(ProcessorHarness.Chunk("busy", 1), 2);
        harness.StepUntil(() => harness.OutputCount("busy") == 2);
        harness.Time.Advance(TimeSpan.FromSeconds(25));
        harness.StepUntil(() => thread.StreamCount == 1);
        harness.Step();

        Assert.Equal(1, evicted.Sum());
        Assert.Equal(1, streams.Observe());
    }

    [Fact]
    public void A_restore_is_timed_by_partitions_and_counts_corrupt_changelog_records()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        using var duration = Collect<double>(harness, "restore.duration").AssertDocumented(typeof(Histogram<>), "s");
        using var corrupt = Collect<long>(harness, "restore.corrupt").AssertDocumented(typeof(Counter<>), "{record}");
        using var streams = Collect<long>(harness, "streams");
        var (first, _) = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("ok", 0), 0);
        harness.Produce(ProcessorHarness.Chunk("bad", 0), 1);
        harness.StepUntil(() => harness.OutputCount("ok") == 1 && harness.OutputCount("bad") == 1, threads: first);
        Assert.Equal(0, corrupt.Sum());
        var fresh = Assert.Single(duration.Matching());
        Assert.Equal(4, fresh.Tags["partitions"]);

        // The first owner dies; three unreadable checkpoints wait in the changelog for the second.
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        foreach (var p in new[] { 1, 2, 3 })
        {
            harness.Cluster.Produce(ProcessorHarness.Changelog, p, Encoding.UTF8.GetBytes($"bad{p}"), [2, 0xff, 0x13]);
        }

        var (second, _) = harness.Start();
        harness.StepUntil(() => second.AssignedPartitions.Count == 4, threads: second);

        Assert.Equal(3, corrupt.Sum());
        Assert.Equal(2, duration.Matching(("partitions", 4)).Count);
        Assert.All(duration.Matching(), m => Assert.True(m.Value >= 0 && double.IsFinite(m.Value), $"{m.Value} s"));
        Assert.Equal(2, streams.Observe());
    }

    [Fact]
    public void A_restore_that_fails_is_counted_and_tried_again()
    {
        using var harness = new ProcessorHarness();
        using var failures = Collect<long>(harness, "restore.failures").AssertDocumented(typeof(Counter<>), "{restore}");
        using var duration = Collect<double>(harness, "restore.duration");
        harness.Cluster.Faults.Fail(FaultPoint.Consume, () => new Confluent.Kafka.KafkaException(new Confluent.Kafka.Error(Confluent.Kafka.ErrorCode.Local_Transport)),
            count: 1, when: c => c.Owner == ProcessorOptions.ConsumerGroup + "-restore");
        // Something in the changelog, so the restore has to read it (a tombstone of a stream long gone).
        harness.Cluster.Produce(ProcessorHarness.Changelog, 0, Encoding.UTF8.GetBytes("gone"), null);
        harness.Start();
        harness.Produce(ProcessorHarness.Chunk("r", 0), 0);

        harness.StepUntil(() => harness.OutputCount("r") == 1);

        Assert.Equal(0, harness.Cluster.Faults.Pending);
        Assert.Equal(1, failures.Sum());
        Assert.Single(duration.Matching());
    }

    [Fact]
    public void A_changelog_partition_that_lost_its_start_is_counted_as_truncated_and_its_stream_starts_empty()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        using var truncated = Collect<long>(harness, "restore.truncated").AssertDocumented(typeof(Counter<>), "{partition}");
        var (first, _) = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("lost", 0), 2);
        harness.Produce(ProcessorHarness.Chunk("kept", 0), 3);
        harness.StepUntil(() => harness.OutputCount("lost") == 1 && harness.OutputCount("kept") == 1, threads: first);

        // The first owner dies and partition 2's changelog loses everything written so far (a deleted, not compacted, topic).
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        harness.Cluster.DeleteRecords(ProcessorHarness.Changelog, 2, harness.Cluster.HighWatermark(ProcessorHarness.Changelog, 2));
        var (second, _) = harness.Start();
        harness.StepUntil(() => second.AssignedPartitions.Count == 4, threads: second);

        Assert.Equal(1, truncated.Sum());
        Assert.Equal(1, second.StreamCount);
    }

    [Fact]
    public void With_dev_broker_compensation_a_chunk_already_in_the_output_is_counted_as_replayed_and_not_written_again()
    {
        using var harness = new ProcessorHarness(configure: o => (o.DevBrokerCompensation, o.MaxHeldChunks) = (true, 0));
        using var replayed = Collect<long>(harness, "replayed").AssertDocumented(typeof(Counter<>), "{chunk}");
        var (first, _) = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("x", 0), 0);
        harness.StepUntil(() => harness.OutputCount("x") == 1, threads: first);

        // What the dev broker shows after a crash mid-transaction: seq 1's output, past the checkpoint.
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        var shown = SampleCodec.ToMessage(new FilteredChunk("x", 1, "kalman", new double[] { 1 }, new double[] { 1 }, 1_000, 2_000) { Format = SampleFormat.Float64 });
        harness.Cluster.Produce(ProcessorHarness.Output, 0, shown.Key, shown.Value, shown.Headers);
        var (second, _) = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("x", 1), 0);
        harness.Produce(ProcessorHarness.Chunk("x", 2), 0);
        harness.StepUntil(() => harness.OutputCount("x") == 3, threads: second);

        Assert.Equal(1, replayed.Sum());
        Assert.Equal([0L, 1, 2], harness.Outputs()["x"].Select(c => c.Seq));
    }

    [Fact]
    public void A_stream_switched_to_another_config_is_counted_once_and_a_refused_entry_is_a_dead_letter()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        using var switches = Collect<long>(kit.Harness, "config.switches").AssertDocumented(typeof(Counter<>), "{switch}");
        using var deadLetters = Collect<long>(kit.Harness, "dead_letters");
        var instance = kit.Start("one");
        var sent = StreamConfigKit.Chunks("s", 0, 9);
        kit.Produce(sent[..3]);
        kit.StepUntil(() => kit.Harness.OutputCount("s") == 3, instance);
        Assert.Equal(0, switches.Sum());

        kit.Configure("s", """{"algorithm":"rls","params":{"order":4}}""");
        instance.Reader.Poll(TimeSpan.Zero);
        kit.Produce(sent[3..6]);
        kit.StepUntil(() => kit.Harness.OutputCount("s") == 6, instance);
        Assert.Equal(1, switches.Sum());

        kit.Configure("s", """{"algorithm":"rls","params":{"order":0}}""");
        instance.Reader.Poll(TimeSpan.Zero);
        kit.Produce(sent[6..]);
        kit.StepUntil(() => kit.Harness.OutputCount("s") == 9, instance);
        Assert.Equal(1, switches.Sum());
        Assert.Equal(1, deadLetters.Sum(("error.code", "invalid-stream-config")));
    }

    [Fact]
    public void Input_deleted_before_it_was_read_is_named_and_counted_once_and_the_stream_goes_on()
    {
        // Until 2026-12-07 librdkafka's jump to the log's new start (auto.offset.reset=earliest) was all that said so: its
        // OFFSET warning, no metric, nothing naming the records never processed (a CI run of ProcessorChaosTests).
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        using var deleted = Collect<long>(harness, "input.deleted").AssertDocumented(typeof(Counter<>), "{record}");
        var log = new FakeLogger();
        harness.Start(logger: log);
        harness.Produce(ProcessorHarness.Chunk("a", 0), 0);
        harness.StepUntil(() => harness.OutputCount("a") == 1);

        // Offsets 1-3 (seqs 1-3) are deleted before the next step reads them; the first commit after fails and is retried
        // from the committed offset 1, meeting the same hole again.
        Enumerable.Range(1, 3).ToList().ForEach(seq => harness.Produce(ProcessorHarness.Chunk("a", seq), 0));
        harness.Cluster.DeleteRecords(ProcessorHarness.Input, 0, 4);
        harness.Produce(ProcessorHarness.Chunk("a", 4), 0);
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable(), count: 1);
        harness.StepUntil(() => harness.OutputCount("a") == 2);

        Assert.Equal(0, harness.Cluster.Faults.Pending);
        Assert.Equal([0L, 4L], harness.Outputs()["a"].Select(c => c.Seq));
        Assert.Equal(3, deleted.Sum());
        var warning = Assert.Single(log.Collector.GetSnapshot(), r => r.Message.Contains("were deleted", StringComparison.Ordinal));
        Assert.StartsWith("Input partition 0: offsets 1-3 were deleted (retention or DeleteRecords) before this group read them; 3 record(s) never processed, the streams go on from offset 4", warning.Message);
    }

    [Fact]
    public void Input_deleted_while_its_partition_had_no_owner_is_counted_by_the_next_owner_and_a_gap_of_markers_is_not()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        using var deleted = Collect<long>(harness, "input.deleted");
        var (first, _) = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("b", 0), 2);
        harness.StepUntil(() => harness.OutputCount("b") == 1, threads: first);

        // The owner dies; seqs 1-2 land and are deleted before anyone owns the partition again; an aborted transaction's
        // record (an offset no read_committed reader gets, as a transaction marker's) comes before seq 3.
        harness.Cluster.ExpireMember(harness.Supplier.Consumers[0]);
        harness.Produce(ProcessorHarness.Chunk("b", 1), 2);
        harness.Produce(ProcessorHarness.Chunk("b", 2), 2);
        harness.Cluster.DeleteRecords(ProcessorHarness.Input, 2, 3);
        using var aborted = harness.Cluster.CreateProducer("aborted");
        aborted.InitTransactions(TimeSpan.FromSeconds(1));
        aborted.BeginTransaction();
        aborted.Produce(new Confluent.Kafka.TopicPartition(ProcessorHarness.Input, 2), new Confluent.Kafka.Message<byte[], byte[]> { Key = [], Value = [] });
        aborted.AbortTransaction();
        harness.Produce(ProcessorHarness.Chunk("b", 3), 2);
        var (second, _) = harness.Start();
        harness.StepUntil(() => harness.OutputCount("b") == 2, threads: second);

        Assert.Equal([0L, 3L], harness.Outputs()["b"].Select(c => c.Seq));
        Assert.Equal(2, deleted.Sum());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_input_log_truncated_below_the_committed_position_is_read_on_from_where_the_consumer_moved_and_named(bool newLeaderPassedIt)
    {
        // An unclean leader election: the new leader has only offset 0 (seq 0); seqs 3-4 and a new stream take offsets 1-3,
        // before or after the consumer's next fetch. Until 2026-12-07 the records at offsets below the committed 3 were
        // skipped as processed: seqs 3-4 never came out.
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        using var truncated = Collect<long>(harness, "input.truncated").AssertDocumented(typeof(Counter<>), "{truncation}");
        var log = new FakeLogger();
        harness.Start(logger: log);
        Enumerable.Range(0, 3).ToList().ForEach(seq => harness.Produce(ProcessorHarness.Chunk("t", seq), 1));
        harness.StepUntil(() => harness.OutputCount("t") == 3);

        harness.Cluster.TruncateLog(ProcessorHarness.Input, 1, 1);
        if (!newLeaderPassedIt)
        {
            harness.Step();
        }

        harness.Produce(ProcessorHarness.Chunk("t", 3), 1);
        harness.Produce(ProcessorHarness.Chunk("t", 4), 1);
        harness.Produce(ProcessorHarness.Chunk("u", 0), 1);
        harness.StepUntil(() => harness.OutputCount("t") == 5 && harness.OutputCount("u") == 1);
        harness.Step(3);

        Assert.Equal([0L, 1L, 2L, 3L, 4L], harness.Outputs()["t"].Select(c => c.Seq));
        Assert.Equal(1, truncated.Sum());
        var warning = Assert.Single(log.Collector.GetSnapshot(), r => r.Message.Contains("truncated", StringComparison.Ordinal));
        Assert.Matches(@"^Input partition 1: the consumer moved to offset 1, before the committed position 3 \(the log, now ending at [14], was truncated: an unclean leader election\); reading on from there", warning.Message);
    }

    private static MetricCollector<T> Collect<T>(ProcessorHarness harness, string instrument)
        where T : struct
        => DocumentedMetric.Collect<T>(harness.Meters, ProcessorTelemetry.Name, $"signalpipeline.processor.{instrument}");
}
