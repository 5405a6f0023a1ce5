using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.State;
using FilterKafkaProcessor.Streaming;
using SignalPipeline.Filters;
using SignalPipeline.Messages;
using SignalPipeline.Tests.FilterKafkaProcessor.Fakes;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The processor's loop over the in-memory cluster: poison, broker failures, fencing, health. No broker, no sleeps.</summary>
public sealed class StreamThreadTests
{
    [Fact]
    public void EveryStreamEqualsOneFilterRunAcrossPartitions()
    {
        using var harness = new ProcessorHarness();
        harness.Start();
        var sent = Send(harness, ["a", "b", "c", "d"], chunks: 6);

        harness.StepUntil(() => sent.All(s => harness.OutputCount(s.Key) == 6));
        var outputs = harness.Outputs();
        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, outputs[stream]);
        }
    }

    [Theory]
    [InlineData("""{"stream_id":"p","seq":1,"signal":[1,2""", "malformed-json")]
    [InlineData("""{"stream_id":"p","seq":1,"signal":[]}""", "empty-signal")]
    [InlineData("""{"stream_id":"p","seq":9223372036854775807,"signal":[1,2]}""", PoisonCodes.SeqOutOfRange)]
    public void ARecordRefusedOnArrivalIsDeadLetteredAndTheStreamAndItsNeighbourGoOn(string poison, string code)
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        harness.Start();
        var good = Enumerable.Range(0, 4).Select(seq => ProcessorHarness.Chunk("p", seq)).ToList();
        var neighbour = Enumerable.Range(0, 4).Select(seq => ProcessorHarness.Chunk("n", seq)).ToList();
        harness.Produce(good[0], 0);
        harness.ProduceRaw("p", poison, 0);
        for (var seq = 1; seq < 4; seq++)
        {
            harness.Produce(good[seq], 0);
            harness.Produce(neighbour[seq - 1], 0);
        }

        harness.Produce(neighbour[3], 0);
        harness.StepUntil(() => harness.OutputCount("p") == 4 && harness.OutputCount("n") == 4);

        ProcessorHarness.AssertReference(good, harness.Outputs()["p"]);
        ProcessorHarness.AssertReference(neighbour, harness.Outputs()["n"]);
        Assert.Equal([("p", code)], harness.DeadLetters().Select(d => (d.Key, d.Code)));
    }

    [Fact]
    public void AnInputKeyThatIsNotUtf8IsDeadLetteredAsItCameAndIsNoOtherStream()
    {
        // Read with U+FFFD for their bad bytes, both keys would be the stream "s\uFFFD", which sends chunks too.
        const string named = "s\uFFFD";
        byte[][] keys = [[(byte)'s', 0xFF], [(byte)'s', 0xFE]];
        using var harness = new ProcessorHarness(configure: o => o.MaxHeldChunks = 0);
        harness.Start();
        var good = Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk(named, seq)).ToList();
        harness.Produce(good[0], 0);
        foreach (var (key, format) in keys.Zip([SampleFormat.Json, SampleFormat.Float64]))
        {
            var message = SampleCodec.ToMessage(ProcessorHarness.Chunk(named, 1, format: format));
            harness.Cluster.Produce(ProcessorHarness.Input, 0, key, message.Value, message.Headers);
        }

        harness.Produce(good[1], 0);
        harness.Produce(good[2], 0);
        harness.StepUntil(() => harness.OutputCount(named) == 3 && harness.DeadLetters().Count == 2);

        ProcessorHarness.AssertReference(good, harness.Outputs()[named]);
        // Each with its key as it came (the harness's DeadLetters() reads keys as text, both as "s\uFFFD").
        var letters = harness.Cluster.ReadCommitted(ProcessorHarness.Dlq).Zip(harness.DeadLetters(), (r, d) => (Key: Convert.ToHexString(r.Message.Key), d.Code, d.Reason));
        Assert.Equal([("73FE", "invalid-stream-id", "the record key is not valid UTF-8: 73FE"), ("73FF", "invalid-stream-id", "the record key is not valid UTF-8: 73FF")],
            letters.OrderBy(l => l.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void ANonFiniteOutputIsDeadLetteredAndItsSeqCountsAsDone()
    {
        using var harness = new ProcessorHarness();
        harness.Start();
        harness.ProduceRaw("p", """{"stream_id":"p","seq":0,"signal":[1.7e308,-1.7e308,1.7e308]}""", 1);
        var good = Enumerable.Range(1, 3).Select(seq => ProcessorHarness.Chunk("p", seq)).ToList();
        good.ForEach(c => harness.Produce(c, 1));

        harness.StepUntil(() => harness.OutputCount("p") == 3);

        // seq 1 follows seq 0 at once (no gap wait), filtered from a fresh state as if seq 0 had not been there.
        ProcessorHarness.AssertReference(good, harness.Outputs()["p"]);
        Assert.Equal([PoisonCodes.NonFiniteOutput], harness.DeadLetters().Select(d => d.Code));
        Assert.Equal(0L, harness.Telemetry.Gaps);
    }

    /// <summary>
    /// lms: after an input near 1e306 every chunk of the stream came out non-finite from the state carried over and was
    /// dead-lettered, forever (each rolled back, the huge sample never left the taps). Now the filter starts again at the
    /// next chunk, counted in <c>filter.restarts</c> after the commit (docs/processor.md, "Failure isolation").
    /// </summary>
    [Fact]
    public void AStateNoChunkCanFollowRestartsTheStreamsFilterAndIsCountedNothingIsDeadLettered()
    {
        using var harness = new ProcessorHarness(configure: o => o.Algorithm = "lms");
        // Read by its exported name, kind and unit (docs/processor.md's Telemetry table), not only through the field.
        using var restarts = DocumentedMetric.Collect<long>(harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.filter.restarts")
            .AssertDocumented(typeof(System.Diagnostics.Metrics.Counter<>), "{restart}");
        harness.Start();
        harness.ProduceRaw("p", """{"stream_id":"p","seq":0,"signal":[0.5,0.25,-0.5]}""", 1);
        harness.ProduceRaw("p", """{"stream_id":"p","seq":1,"signal":[1e306]}""", 1);
        for (var seq = 2; seq <= 4; seq++)
        {
            harness.Produce(ProcessorHarness.Chunk("p", seq), 1);
        }

        harness.StepUntil(() => harness.OutputCount("p") == 5);

        Assert.Empty(harness.DeadLetters());
        Assert.Equal([0L, 1, 2, 3, 4], harness.Outputs()["p"].Select(c => c.Seq));
        Assert.All(harness.Outputs()["p"], c => Assert.All(c.FilteredSignal.ToArray(), v => Assert.True(double.IsFinite(v))));
        Assert.Equal(1L, harness.Telemetry.FilterRestarts);
        Assert.Equal(1, restarts.Sum());
    }

    [Fact]
    public void AnF32OutputBeyondTheFloatRangeIsDeadLetteredAndThePartitionGoesOn()
    {
        // ls extrapolates: alternating extremes give outputs beyond ±3.4E+38, finite as doubles, infinite in f32. Once
        // written they could not be encoded, and the batch would be aborted and retried forever.
        var max = (double)float.MaxValue;
        var poison = new SampleChunk("p", 0, new[] { max, -max, max, max, -max, max, max, -max }, 8000, 1_000) { Format = SampleFormat.Float32 };
        var reference = new double[poison.Signal.Length];
        FilterFactory.Create("ls").Process(poison.Signal.Span, reference);
        Assert.Contains(reference, v => double.IsFinite(v) && !float.IsFinite((float)v));

        using var harness = new ProcessorHarness(configure: o => o.Algorithm = "ls");
        harness.Start();
        harness.Produce(poison, 0);
        for (var seq = 1; seq <= 3; seq++)
        {
            harness.Produce(ProcessorHarness.Chunk("p", seq, format: SampleFormat.Float32), 0);
            harness.Produce(ProcessorHarness.Chunk("n", seq - 1, format: SampleFormat.Float32), 0);
        }

        harness.StepUntil(() => harness.OutputCount("p") == 3 && harness.OutputCount("n") == 3);

        Assert.Equal([1L, 2, 3], harness.Outputs()["p"].Select(c => c.Seq));
        var letter = Assert.Single(harness.DeadLetters());
        Assert.Equal(("p", PoisonCodes.NonFiniteOutput), (letter.Key, letter.Code));
        Assert.Contains("not finite in float32", letter.Reason);
        Assert.Equal(0L, harness.Telemetry.Aborts);
    }

    [Fact]
    public void AChunkWithoutTimestampOnARecordWithoutOneIsStampedWhenItIsReadAndThePartitionGoesOn()
    {
        // Kafka's "no timestamp" is -1: the output's timestamp_ms must still be >= 0, or encoding it would fail the batch.
        using var harness = new ProcessorHarness();
        harness.Start();
        using var producer = harness.Cluster.CreateProducer();
        var chunks = Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk("p", seq) with { TimestampMs = null }).ToList();
        foreach (var chunk in chunks)
        {
            var message = SampleCodec.ToMessage(chunk);
            message.Timestamp = new Timestamp(chunk.Seq == 1 ? -1 : 5_000, TimestampType.CreateTime);
            producer.Produce(new TopicPartition(ProcessorHarness.Input, 0), message);
        }

        harness.StepUntil(() => harness.OutputCount("p") == 3);

        ProcessorHarness.AssertReference(chunks, harness.Outputs()["p"]);
        var now = harness.Time.GetUtcNow().ToUnixTimeMilliseconds();
        Assert.Equal([5_000L, now, 5_000], harness.Outputs()["p"].Select(c => c.TimestampMs));
        Assert.Empty(harness.DeadLetters());
        Assert.Equal(0L, harness.Telemetry.Aborts);
    }

    [Fact]
    public void AChunkWhoseOutputCannotFitOneMessageIsDeadLetteredBeforeItIsFiltered()
    {
        using var harness = new ProcessorHarness();
        harness.Cluster.MaxMessageBytes = 40_000;
        harness.Start(maxMessageBytes: 40_000);
        var limits = new ChunkLimits(40_000);
        var fits = ProcessorHarness.Chunk("big", 0, limits.MaxSamples(SampleFormat.Float64));
        var tooBig = ProcessorHarness.Chunk("big", 1, limits.MaxSamples(SampleFormat.Float64) + 1);
        var next = ProcessorHarness.Chunk("big", 2);
        harness.Produce(fits, 0);
        harness.Produce(tooBig, 0);
        harness.Produce(next, 0);

        harness.StepUntil(() => harness.OutputCount("big") == 2);

        ProcessorHarness.AssertReference([fits, next], harness.Outputs()["big"]);
        var letter = Assert.Single(harness.DeadLetters());
        Assert.Equal(PoisonCodes.OutputTooLarge, letter.Code);
        Assert.Contains("message.max.bytes 40000", letter.Reason);
    }

    [Theory]
    [InlineData(39_000, 0, "malformed-json", "1 original headers of 39003 bytes left out")]
    [InlineData(0, 39_000, "stream-id-mismatch", "and a key of 39000 bytes left out")]
    public void APoisonRecordWhoseHeadersOrKeyAloneFillAMessageIsDeadLetteredWithoutThemAndThePartitionGoesOn(int headerBytes, int keyBytes, string code, string leftOut)
    {
        // The broker took the record (its limit is its own), but its dead letter adds the dlq-* headers: written whole,
        // it would be refused every time, and the partition would retry the same batch forever.
        using var harness = new ProcessorHarness();
        harness.Cluster.MaxMessageBytes = 40_000;
        harness.Start(maxMessageBytes: 40_000);
        var good = Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk("p", seq)).ToList();
        harness.Produce(good[0], 0);
        var headers = new Headers();
        if (headerBytes > 0)
        {
            headers.Add("big", new byte[headerBytes]);
        }

        harness.Cluster.Produce(ProcessorHarness.Input, 0, keyBytes == 0 ? "p"u8.ToArray() : new byte[keyBytes], """{"stream_id":"p","seq":1,"signal":[1,2"""u8.ToArray(), headers);
        harness.Produce(good[1], 0);
        harness.Produce(good[2], 0);

        harness.StepUntil(() => harness.OutputCount("p") == 3);

        ProcessorHarness.AssertReference(good, harness.Outputs()["p"]);
        var letter = Assert.Single(harness.DeadLetters());
        Assert.Equal(code, letter.Code);
        Assert.Contains(leftOut, letter.Reason);
        Assert.Equal(0L, harness.Telemetry.Aborts);
    }

    [Fact]
    public void APoisonRecordsOwnDlqHeadersAreNotCopiedIntoItsDeadLetter()
    {
        // The dlq-* headers are the dead-letter topic's own: copied from the input, a forged dlq-replayed made the
        // letter pass for a replay marker (dlq replay then hid it and one real letter), and a forged dlq-error-code came
        // first in the letter, before the real one.
        using var harness = new ProcessorHarness();
        harness.Start();
        var headers = new Headers
        {
            { "origin", "sensor-rack-2"u8.ToArray() },
            { MessageHeaders.DeadLetterErrorCode, "forged"u8.ToArray() },
            { "dlq-replayed", "1@0"u8.ToArray() },
        };
        harness.Cluster.Produce(ProcessorHarness.Input, 0, "p"u8.ToArray(), """{"stream_id":"p","seq":0,"signal":[1,2"""u8.ToArray(), headers);
        var good = ProcessorHarness.Chunk("p", 0);
        harness.Produce(good, 0);

        harness.StepUntil(() => harness.OutputCount("p") == 1);

        var letter = Assert.Single(harness.Cluster.ReadCommitted(ProcessorHarness.Dlq));
        var names = letter.Message.Headers.Select(h => h.Key).ToList();
        Assert.Equal(["origin", "dlq-reason", "dlq-error-code", "dlq-source-topic", "dlq-source-partition", "dlq-source-offset"], names);
        Assert.Equal("malformed-json", System.Text.Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes(MessageHeaders.DeadLetterErrorCode)));
        Assert.Equal("sensor-rack-2", System.Text.Encoding.UTF8.GetString(letter.Message.Headers.GetLastBytes("origin")));
    }

    [Fact]
    public void APoisonRecordWhoseErrorWouldQuoteAllOfItIsDeadLetteredWithAShortReasonAndThePartitionGoesOn()
    {
        // A 39,950-digit seq: an error quoting the number whole would make a dead letter as large as the record, which
        // no longer fits once the dlq-* headers are added.
        using var harness = new ProcessorHarness();
        harness.Cluster.MaxMessageBytes = 40_000;
        harness.Start(maxMessageBytes: 40_000);
        var good = Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk("p", seq)).ToList();
        harness.Produce(good[0], 0);
        harness.ProduceRaw("p", $$"""{"stream_id":"p","seq":1{{new string('0', 39_950)}},"signal":[1]}""", 0);
        harness.Produce(good[1], 0);
        harness.Produce(good[2], 0);

        harness.StepUntil(() => harness.OutputCount("p") == 3);

        ProcessorHarness.AssertReference(good, harness.Outputs()["p"]);
        var letter = Assert.Single(harness.DeadLetters());
        Assert.Equal("wrong-type", letter.Code);
        Assert.StartsWith("seq must be an integer, not 1000", letter.Reason);
        Assert.True(letter.Reason.Length < 200, letter.Reason);
        Assert.Equal(0L, harness.Telemetry.Aborts);
    }

    [Fact]
    public void ADeadLetterReasonIsCutToItsLimitAndSaysHowLongItWas()
    {
        var limits = new ChunkLimits(ChunkLimits.DefaultMaxMessageBytes);
        var letter = new DeadLetter("p"u8.ToArray(), [1], [], new TopicPartitionOffset(ProcessorHarness.Input, 0, 7), "filter-failed", new string('x', 5_000));

        var fitted = limits.Fitted(letter);

        const string Suffix = "... (a reason of 5000 characters, cut)";
        Assert.Equal(new string('x', ChunkLimits.MaxReasonChars - Suffix.Length) + Suffix, fitted.Reason);
        Assert.Equal(letter.Value, fitted.Value);
        Assert.Equal("short", limits.Fitted(letter with { Reason = "short" }).Reason);

        // What was left out is said within the limit too.
        var large = limits.Fitted(letter with { Value = new byte[ChunkLimits.DefaultMaxMessageBytes] });
        Assert.Null(large.Value);
        Assert.Equal(ChunkLimits.MaxReasonChars, large.Reason.Length);
        Assert.EndsWith($"{Suffix} (value of {ChunkLimits.DefaultMaxMessageBytes} bytes left out: too large for one message)", large.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void RecordsWithANullHeaderValueAreHeldAndDeadLetteredWithItAndThePartitionGoesOn()
    {
        // Kafka allows a header without a value (Confluent.Kafka gives null). Sizing one as a held chunk or a dead letter
        // once threw, which aborted the transaction and read the same batch again, forever.
        using var harness = new ProcessorHarness();
        harness.Start();
        var good = Enumerable.Range(0, 4).Select(seq => ProcessorHarness.Chunk("p", seq)).ToList();
        harness.Produce(good[0], 0);
        var early = SampleCodec.ToMessage(good[2]);
        early.Headers.Add("trace", null);
        early.Headers.Add("traceparent", null);
        harness.Cluster.Produce(ProcessorHarness.Input, 0, early.Key, early.Value, early.Headers); // held until seq 1
        harness.Cluster.Produce(ProcessorHarness.Input, 0, "p"u8.ToArray(), """{"stream_id":"p","seq":9,"signal":[1,2"""u8.ToArray(), new Headers { { "trace", null } });
        harness.Produce(good[1], 0);
        harness.Produce(good[3], 0);

        harness.StepUntil(() => harness.OutputCount("p") == 4 && harness.DeadLetters().Count == 1);

        ProcessorHarness.AssertReference(good, harness.Outputs()["p"]);
        Assert.Equal("malformed-json", Assert.Single(harness.DeadLetters()).Code);
        var letter = Assert.Single(harness.Cluster.ReadCommitted(ProcessorHarness.Dlq));
        Assert.Contains(letter.Message.Headers, h => h.Key == "trace" && h.GetValueBytes() is null);
        Assert.Equal(0L, harness.Telemetry.Aborts);
    }

    [Fact]
    public void HeadersCountTowardMaxBatchBytesSoRecordsHeavyWithThemMakeSmallBatches()
    {
        // A record can carry up to the broker's message limit in its headers with a tiny value; counting values only let
        // a batch take MaxBatchRecords such records (2000 x ~1 MB against a 512 MiB pod).
        using var harness = new ProcessorHarness(configure: o => o.MaxBatchBytes = 64 * 1024);
        harness.Start();
        var chunks = Enumerable.Range(0, 8).Select(seq => ProcessorHarness.Chunk("h", seq)).ToList();
        foreach (var chunk in chunks)
        {
            var message = SampleCodec.ToMessage(chunk);
            message.Headers.Add("x-pad", new byte[40_000]);
            harness.Cluster.Produce(ProcessorHarness.Input, 0, message.Key, message.Value, message.Headers);
        }

        harness.StepUntil(() => harness.OutputCount("h") > 0);
        Assert.Equal(2, harness.OutputCount("h"));

        harness.StepUntil(() => harness.OutputCount("h") == 8);
        ProcessorHarness.AssertReference(chunks, harness.Outputs()["h"]);
    }

    [Fact]
    public void ANewStreamBeyondMaxStreamsIsDeadLetteredAndTheOthersGoOn()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxStreams = 2);
        harness.Start();
        var sent = Send(harness, ["s1", "s2"], chunks: 2);
        harness.StepUntil(() => harness.OutputCount("s1") == 2 && harness.OutputCount("s2") == 2);
        harness.Produce(ProcessorHarness.Chunk("s3", 0), 0);
        harness.Produce(ProcessorHarness.Chunk("s1", 2), 0);
        harness.StepUntil(() => harness.OutputCount("s1") == 3);

        Assert.Equal([("s3", PoisonCodes.TooManyStreams)], harness.DeadLetters().Select(d => (d.Key, d.Code)));
        Assert.Contains("Processor:MaxStreams", harness.DeadLetters()[0].Reason);
    }

    [Fact]
    public void ARemoteRefusalDeadLettersTheRefusedChunkOnly()
    {
        using var harness = new ProcessorHarness();
        harness.Start(new RefusingFilterer(refuse: 1));
        var sent = Send(harness, ["r"], chunks: 3);

        harness.StepUntil(() => harness.OutputCount("r") == 2);

        ProcessorHarness.AssertReference([sent["r"][0], sent["r"][2]], harness.Outputs()["r"]);
        Assert.Equal([PoisonCodes.RemoteRefused], harness.DeadLetters().Select(d => d.Code));
    }

    [Theory]
    [InlineData(FaultPoint.CommitTransaction, "abortable")]
    [InlineData(FaultPoint.SendOffsets, "abortable")]
    [InlineData(FaultPoint.BeginTransaction, "retriable")]
    [InlineData(FaultPoint.Produce, "produce")]
    [InlineData(FaultPoint.CommitTransaction, "fatal")]
    public void ABrokerFailureAbortsRetriesAndLosesOrDuplicatesNothing(FaultPoint point, string kind)
    {
        using var harness = new ProcessorHarness();
        harness.Start();
        var sent = Send(harness, ["x", "y"], chunks: 3);
        Func<Exception> failure = kind switch
        {
            "abortable" => () => KafkaFaults.Abortable(),
            "retriable" => () => KafkaFaults.Retriable(),
            // A full queue is waited out, not a failure (RecordCollector.Produce; the next test): another produce error.
            "produce" => () => KafkaFaults.ProduceError(ErrorCode.Local_UnknownPartition),
            _ => () => KafkaFaults.Fatal(),
        };
        harness.Cluster.Faults.Fail(point, failure, count: 2);

        harness.StepUntil(() => sent.All(s => harness.OutputCount(s.Key) == 3));

        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, harness.Outputs()[stream]);
        }

        Assert.True(harness.Telemetry.Aborts >= 1, "The failures should have aborted transactions.");
    }

    [Fact]
    public void AFullProducerQueueIsWaitedOutWithoutAbortingTheTransaction()
    {
        // librdkafka's queue full twice: the record waits for room (as Java's producer blocks) and the same
        // transaction goes on; until 2026-12-06 each time aborted the batch, and a transaction larger than the queue
        // was retried forever (RecordCollectorQueueTests has that on librdkafka's mock cluster).
        using var harness = new ProcessorHarness();
        harness.Start();
        var sent = Send(harness, ["x", "y"], chunks: 3);
        harness.Cluster.Faults.Fail(FaultPoint.Produce, () => KafkaFaults.ProduceError(ErrorCode.Local_QueueFull), count: 2);

        harness.StepUntil(() => sent.All(s => harness.OutputCount(s.Key) == 3));

        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, harness.Outputs()[stream]);
        }

        Assert.Equal(0, harness.Telemetry.Aborts);
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(7, 1)]
    public void ARetriableCommitFailureRetriesTheSameCommitAndWhenItStaysUnknownRestoresFromTheChangelog(int failures, int aborts)
    {
        using var harness = new ProcessorHarness();
        harness.Start();
        var sent = Send(harness, ["u", "v"], chunks: 3);
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Retriable(), count: failures);

        harness.StepUntil(() => sent.All(s => harness.OutputCount(s.Key) == 3));

        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, harness.Outputs()[stream]);
        }

        // Two failures: the same transaction is committed on the third try, nothing aborted. Seven: past the five tries,
        // the outcome counts as unknown: a new producer, and every partition restored from the changelog.
        Assert.Equal(aborts, harness.Telemetry.Aborts);
    }

    /// <summary>
    /// The chaos test's CI failure of 2026-12-01 03:31: on the dev broker (aborted and unfinished transactions visible)
    /// a transaction T1 failed after writing seqs 0-5, its abort failed too, the retry T2 took a smaller batch (seqs 0-2,
    /// replayed without writing) and wrote its checkpoint, then failed fatally. The restore from T2's checkpoint must
    /// still find T1's seqs 3-5 in the output: T2's checkpoint may not put the output scan's start past them.
    /// </summary>
    [Fact]
    public void OnTheDevBrokerARestoreFromAnUnfinishedRetryStillFindsTheOutputOfTheFailedAttemptBeforeIt()
    {
        ProcessorOptions? live = null;
        using var harness = new ProcessorHarness(configure: o => live = o, devBroker: true);
        harness.Start();
        var sent = Send(harness, ["w"], chunks: 6);
        harness.Cluster.Faults.Fail(FaultPoint.SendOffsets, () => KafkaFaults.Abortable(), count: 1);
        harness.Cluster.Faults.Fail(FaultPoint.AbortTransaction, () => new KafkaException(new Error(ErrorCode.RequestTimedOut)), count: 1);

        // T1: all six chunks written, then the offsets refused and the abort failed.
        harness.StepUntil(() => harness.Telemetry.Aborts >= 1);
        Assert.Equal(6, harness.Cluster.ReadUncommitted(ProcessorHarness.Output).Count);

        // T2: three chunks a batch, committed up to its last step, which fails fatally.
        live!.MaxBatchRecords = 3;
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Fatal(), count: 1);
        harness.StepUntil(() => harness.Telemetry.Aborts >= 2);

        // Then on until every seq has been read again.
        harness.Step(20);
        Assert.Equal(sent["w"].Select(c => c.Seq), SeqsAsTheDevBrokerShowsThem(harness).Order());
    }

    [Fact]
    public void OnTheDevBrokerChunksReplayedByAnAbortedRetryAreCountedOnceWhenTheirRetryCommits()
    {
        // The first attempt's outputs stay visible after its abort (dev broker): each retry filters the four chunks again
        // without writing them, and only the retry that commits counts them in signalpipeline.processor.replayed.
        using var harness = new ProcessorHarness(devBroker: true);
        harness.Start();
        var sent = Send(harness, ["w"], chunks: 4);
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable(), count: 3);

        harness.StepUntil(() => harness.Telemetry.Aborts == 3);
        harness.StepUntil(() => harness.Telemetry.Transactions >= 1 && harness.Telemetry.Replayed > 0);

        Assert.Equal(sent["w"].Select(c => c.Seq), SeqsAsTheDevBrokerShowsThem(harness));
        Assert.Equal(4L, harness.Telemetry.Replayed);
    }

    /// <summary>
    /// The chaos test's CI failure of 2026-12-02 (four streams missing seqs 193-245, neither in the output nor
    /// dead-lettered): librdkafka sends each partition's batch on its own, so a transaction's changelog records can
    /// reach the broker while its outputs are still in the producer, and a kill or a fatal error then loses the outputs.
    /// A real cluster hides the checkpoint as well (the transaction never commits); the dev broker shows it, and the
    /// restore from it resumed past chunks that were never written.
    /// </summary>
    [Fact]
    public void OnTheDevBrokerAFatalErrorBeforeTheOutputsReachTheBrokerLosesNoSeq()
    {
        using var harness = new ProcessorHarness(devBroker: true);
        harness.Start();
        var sent = Send(harness, ["k"], chunks: 4);
        harness.Cluster.Faults.HoldUntilFlush(count: 4, when: c => c.Topic == ProcessorHarness.Output);
        harness.Cluster.Faults.Fail(FaultPoint.SendOffsets, () => KafkaFaults.Fatal(), count: 1);

        harness.StepUntil(() => harness.Telemetry.Aborts >= 1);
        Assert.Equal(0, harness.Cluster.Faults.Pending);
        harness.Step(20);

        Assert.Equal(sent["k"].Select(c => c.Seq), SeqsAsTheDevBrokerShowsThem(harness).Order());
    }

    /// <summary>
    /// On the dev broker a transaction's changelog records wait for its outputs' delivery, and a partition the
    /// transaction has not written yet costs an AddPartitionsToTxn round trip before them; so each partition's committed
    /// position, true whenever it lands, is written first, beside the outputs (issue 14), and the new checkpoint still
    /// comes only after the outputs were delivered.
    /// </summary>
    [Fact]
    public async Task OnTheDevBrokerEachPartitionsCommittedPositionIsWrittenFirstAndTheNewCheckpointAfterTheOutputs()
    {
        using var harness = new ProcessorHarness(devBroker: true);
        harness.Start();
        Send(harness, ["e"], chunks: 2);
        harness.StepUntil(() => harness.OutputCount("e") == 2);
        var committed = PartitionCheckpoints(harness).Last();

        harness.Produce(ProcessorHarness.Chunk("e", 2), 0);
        harness.Cluster.Faults.HoldUntilFlush(count: 1, when: c => c.Topic == ProcessorHarness.Output);
        var stall = harness.Cluster.Faults.Stall(FaultPoint.SendOffsets);
        var step = Task.Run(() => harness.StepUntil(() => harness.OutputCount("e") == 3));
        await stall.Reached.WaitAsync(TimeSpan.FromSeconds(30));

        // The output is still in the producer; the changelog already has the committed position again (the output scan
        // starting where the committed outputs end), and nothing newer.
        Assert.Equal(2, harness.Cluster.ReadUncommitted(ProcessorHarness.Output).Count);
        var changelog = harness.Cluster.ReadUncommitted(ProcessorHarness.Changelog).Where(r => r.Partition.Value == 0).ToList();
        Assert.Empty(changelog[^1].Message.Key);
        Assert.Equal(committed with { OutputScanFrom = 2 }, PartitionCheckpoint.Deserialize(changelog[^1].Message.Value));
        Assert.Equal(committed, PartitionCheckpoint.Deserialize(changelog[^2].Message.Value));

        stall.Release();
        await step.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(committed.NextInputOffset + 1, PartitionCheckpoints(harness).Last().NextInputOffset);
    }

    /// <summary>Partition 0's partition checkpoints in the changelog, as the dev broker shows them.</summary>
    private static List<PartitionCheckpoint> PartitionCheckpoints(ProcessorHarness harness)
        => [.. harness.Cluster.ReadUncommitted(ProcessorHarness.Changelog)
            .Where(r => r.Partition.Value == 0 && r.Message.Key is { Length: 0 })
            .Select(r => PartitionCheckpoint.Deserialize(r.Message.Value))];

    [Fact]
    public void ARefusedDeliveryAbortsTheTransactionAndTheRetryWritesEverythingOnce()
    {
        using var harness = new ProcessorHarness();
        harness.Start();
        harness.Cluster.Faults.FailDelivery(ErrorCode.NotEnoughReplicas, count: 1, when: c => c.Topic == ProcessorHarness.Output);
        var sent = Send(harness, ["d"], chunks: 4);

        harness.StepUntil(() => harness.OutputCount("d") == 4);

        ProcessorHarness.AssertReference(sent["d"], harness.Outputs()["d"]);
    }

    [Fact]
    public void HealthTurnsUnhealthyAfterMaxBatchAttemptsAndRecoversAfterACommit()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxBatchAttempts = 3);
        var (thread, health) = harness.Start();
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable(), count: 3);
        Send(harness, ["h"], chunks: 1);

        harness.StepUntil(() => health.ConsecutiveFailures == 3);
        var sick = health.Check();
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, sick.Status);
        Assert.Contains("Processor:MaxBatchAttempts", sick.Description);

        harness.StepUntil(() => harness.OutputCount("h") == 1);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, health.Check().Status);
    }

    [Fact]
    public void HealthTurnsUnhealthyWhenAPartitionHasInputButNoCommitForStuckPartitionSeconds()
    {
        using var harness = new ProcessorHarness(configure: o => (o.StuckPartitionSeconds, o.MaxBatchAttempts) = (60, 1000));
        var (_, health) = harness.Start();
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable(), count: 1000);
        Send(harness, ["stuck"], chunks: 1);
        harness.Step(3);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, health.Check().Status);

        harness.Time.Advance(TimeSpan.FromSeconds(61));
        harness.Step();
        var sick = health.Check();
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, sick.Status);
        Assert.Contains("Processor:StuckPartitionSeconds", sick.Description);
    }

    [Fact]
    public async Task HealthTurnsUnhealthyWhenOneStepLastsLongerThanStuckPartitionSeconds()
    {
        // A transactional call that never returns (librdkafka#5456) blocks the step after its records were accepted, so
        // the pending time published between steps says nothing: the step's own age must. 30 s: a commit's call is given
        // up at 60 s (the next test), so the stall must reach StuckPartitionSeconds before that.
        using var harness = new ProcessorHarness(configure: o => o.StuckPartitionSeconds = 30);
        var (thread, health) = harness.Start();
        harness.StepUntil(() => thread.AssignedPartitions.Count > 0);
        harness.Step(); // published between steps: nothing pending, nothing restoring
        var stall = harness.Cluster.Faults.Stall(FaultPoint.SendOffsets);
        Send(harness, ["hang"], chunks: 1);
        var step = Task.Run(() => harness.StepUntil(() => harness.OutputCount("hang") == 1));
        await stall.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, health.Check().Status);

        harness.Time.Advance(TimeSpan.FromSeconds(31));
        var sick = health.Check();
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, sick.Status);
        Assert.Contains("in one step for 31 s", sick.Description);
        Assert.Contains("Processor:StuckPartitionSeconds", sick.Description);

        stall.Release();
        await step.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, health.Check().Status);
    }

    [Fact]
    public async Task ACommitCallThatNeverReturnsIsGivenUpAfter60SecondsAndANewProducerWritesEverySeqOnce()
    {
        // librdkafka#5456: seen after every dev broker was down for 30 s, SendOffsetsToTransaction never returned. Before,
        // the step stayed there until /alive restarted the process; now the commit counts as one of unknown outcome.
        using var harness = new ProcessorHarness();
        var (thread, health) = harness.Start();
        harness.StepUntil(() => thread.AssignedPartitions.Count > 0);
        harness.Step();
        var stall = harness.Cluster.Faults.Stall(FaultPoint.SendOffsets);
        var sent = Send(harness, ["hang", "neighbour"], chunks: 3);
        var step = Task.Run(() => harness.StepUntil(() => sent.All(s => harness.OutputCount(s.Key) == 3)));
        await stall.Reached.WaitAsync(TimeSpan.FromSeconds(30));

        harness.Time.Advance(TimeSpan.FromSeconds(61));
        await step.WaitAsync(TimeSpan.FromSeconds(30));
        stall.Release(); // the abandoned call returning late changes nothing: its producer was replaced

        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, harness.Outputs()[stream]);
        }

        Assert.True(harness.Telemetry.Aborts >= 1, "The hung commit should have counted as an aborted transaction.");
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, health.Check().Status);
    }

    [Fact]
    public async Task AStopWaitsForTheCommitInFlightAtMostStopWaitAndTheNextOwnerWritesEverySeqOnce()
    {
        // Until 2026-12-04 a stop waited for the commit in flight however long it took: with every broker down (a SIGTERM
        // during an outage) its call waited for the 30 s transaction timeout and the abort that followed 30 s more, so the
        // host's 30 s shutdown timeout ended the process under the stream thread, which never closed its consumer.
        using var harness = new ProcessorHarness();
        var (first, _) = harness.Start();
        harness.StepUntil(() => first.AssignedPartitions.Count > 0);
        harness.Step();
        var stall = harness.Cluster.Faults.Stall(FaultPoint.SendOffsets);
        var sent = Send(harness, ["left", "neighbour"], chunks: 3);
        await StopAtTheStallThenTheNextOwnerWritesEverySeqOnce(harness, first, stall, sent);
    }

    public static TheoryData<bool> Fatal => [false, true];

    [Theory]
    [MemberData(nameof(Fatal))]
    public async Task AStopDuringTheRecoveryOfAFailedBatchWaitsForItsAbortAtMostStopWaitAndTheNextOwnerWritesEverySeqOnce(bool fatal)
    {
        // Until 2026-12-04 a stop arriving while a failed batch was being recovered waited for the abort however long it
        // took: with Kafka away 30 s for AbortTransaction, or, after a fatal error, up to 30 s for the new producer's
        // InitTransactions, past the host's shutdown timeout.
        using var harness = new ProcessorHarness();
        var (first, _) = harness.Start();
        harness.StepUntil(() => first.AssignedPartitions.Count > 0);
        harness.Step();
        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => fatal ? KafkaFaults.Fatal() : KafkaFaults.Abortable());
        var stall = harness.Cluster.Faults.Stall(fatal ? FaultPoint.InitTransactions : FaultPoint.AbortTransaction);
        var sent = Send(harness, ["left", "neighbour"], chunks: 3);
        await StopAtTheStallThenTheNextOwnerWritesEverySeqOnce(harness, first, stall, sent);
    }

    /// <summary>
    /// Steps <paramref name="first"/> until <paramref name="stall"/> is reached, stops it, and checks that the step ends
    /// once <see cref="StreamThread.StopWait"/> has passed on the thread's clock (not before), without the stalled call
    /// returning; then the call is released (returning late it changes nothing: its producer is fenced by the next one)
    /// and the next owner, with the same transactional id, writes every chunk once.
    /// </summary>
    private static async Task StopAtTheStallThenTheNextOwnerWritesEverySeqOnce(ProcessorHarness harness, StreamThread first, FaultStall stall, Dictionary<string, List<SampleChunk>> sent)
    {
        using var abandoned = DocumentedMetric.Collect<long>(harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.producers.abandoned")
            .AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "{producer}");
        using var stop = new CancellationTokenSource();
        var step = Task.Run(() => first.Step(stop.Token));
        await stall.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        await stop.CancelAsync();

        var advanced = TimeSpan.Zero;
        while (!step.IsCompleted && advanced < StreamThread.StopWait + TimeSpan.FromSeconds(5))
        {
            await Task.Delay(300);
            harness.Time.Advance(TimeSpan.FromSeconds(1));
            advanced += TimeSpan.FromSeconds(1);
        }

        await step.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(advanced >= StreamThread.StopWait, $"the step ended {advanced.TotalSeconds} s after the stop, before StopWait");
        first.Dispose(); // returns at once: a producer in a stalled call was left to it, not disposed
        Assert.Equal(1L, abandoned.Observe());
        Assert.Contains(harness.Supplier.Producers, p => !((InMemoryProducer)p).IsDisposed);
        stall.Release();

        // The call returning late, its thread disposes the producer it was left with (before 2026-12-04 it lived until the
        // process ended).
        await Poll.UntilAsync(() => harness.Supplier.Producers.All(p => ((InMemoryProducer)p).IsDisposed), TimeSpan.FromSeconds(30),
            () => $"every producer of the stopped thread to be disposed ({harness.Supplier.Producers.Count(p => !((InMemoryProducer)p).IsDisposed)} not)");
        Assert.Equal(0L, abandoned.Observe());

        var (next, _) = harness.Start(instanceId: "test-0");
        harness.StepUntil(() => sent.All(s => harness.OutputCount(s.Key) == 3), threads: next);
        harness.Step(3, next);
        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, harness.Outputs()[stream]);
        }

        Assert.Equal(0L, harness.Telemetry.Duplicates);
    }

    [Fact]
    public async Task AfterMaxAbandonedProducersAHungCommitIsLeftToTheLivenessProbeAndEachReturningCallFreesItsProducer()
    {
        // Each producer given up keeps its librdkafka threads and buffers until its call returns: at most
        // MaxAbandonedProducers of them at once; then the hung call stays, and /alive's StuckPartitionSeconds restarts the
        // process. A call that returns has its producer disposed (until 2026-12-04 they lived until the process ended, so
        // three hangs over a process's life, each recovered, left the fourth to a restart).
        var cluster = new InMemoryKafkaCluster();
        cluster.CreateTopic("out", 1);
        var supplier = new InMemoryKafkaSupplier(cluster);
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        var held = 0;
        using var collector = new RecordCollector(supplier, new ProcessorOptions(), "hung", Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, time,
            delta => Interlocked.Add(ref held, delta));
        var abandoned = new List<(FaultStall Stall, Task Commit)>();
        (FaultStall Stall, Task Commit, bool GivenUp) HangACommit(long offset)
        {
            collector.Initialize();
            collector.Begin();
            var stall = cluster.Faults.Stall(FaultPoint.SendOffsets);
            var commit = Task.Run(() => collector.Commit([new TopicPartitionOffset("in", 0, offset)], new InMemoryGroupMetadata("g", "", -1)));
            stall.Reached.Wait(TimeSpan.FromSeconds(30));
            time.Advance(RecordCollector.HungCallAfter);
            var givenUp = collector.HasHungCall(out var running);
            Assert.Equal(RecordCollector.HungCallAfter, running);
            return (stall, commit, givenUp);
        }

        for (var hung = 1; hung <= RecordCollector.MaxAbandonedProducers; hung++)
        {
            var (stall, commit, givenUp) = HangACommit(hung);
            Assert.True(givenUp, $"hung call {hung} should be given up");
            collector.AbandonProducer();
            abandoned.Add((stall, commit));
        }

        Assert.Equal(RecordCollector.MaxAbandonedProducers, collector.AbandonedProducers);
        Assert.Equal(RecordCollector.MaxAbandonedProducers, Volatile.Read(ref held));
        var (past, pastCommit, pastGivenUp) = HangACommit(RecordCollector.MaxAbandonedProducers + 1);
        Assert.False(pastGivenUp, "a hung call past MaxAbandonedProducers is left to the liveness probe");
        past.Release();
        await pastCommit.WaitAsync(TimeSpan.FromSeconds(30));

        // The given-up calls return (each fenced by a later producer with the same id): each one's thread disposes its
        // producer and frees its place.
        foreach (var (stall, commit) in abandoned)
        {
            stall.Release();
            var fenced = await Assert.ThrowsAsync<KafkaException>(() => commit.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(ErrorCode.Local_Fenced, fenced.Error.Code);
        }

        Assert.Equal(0, collector.AbandonedProducers);
        Assert.Equal(0, Volatile.Read(ref held));
        var producers = supplier.Producers.Cast<InMemoryProducer>().ToList();
        Assert.All(producers.Take(RecordCollector.MaxAbandonedProducers), p => Assert.True(p.IsDisposed));
        Assert.False(producers[RecordCollector.MaxAbandonedProducers].IsDisposed, "the collector's own producer stays");

        var (again, againCommit, againGivenUp) = HangACommit(RecordCollector.MaxAbandonedProducers + 2);
        Assert.True(againGivenUp, "with the earlier producers freed, a new hung call is given up again");
        collector.AbandonProducer();
        again.Release();
        await Assert.ThrowsAsync<CommitAbandonedException>(() => againCommit.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, collector.AbandonedProducers);
    }

    [Fact]
    public async Task TheNextBatchIsTakenWhileTheCommitWaitsOnTheBroker()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxBatchRecords = 4);
        var (thread, _) = harness.Start();
        var (chunks, step, stall) = await StepWithTheNextBatchTakenDuringTheCommit(harness, thread, "o", FaultPoint.CommitTransaction);

        Assert.Equal(1, harness.OutputCount("o"));
        stall.Release();
        await step.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(5, harness.OutputCount("o"));

        harness.Step();
        ProcessorHarness.AssertReference(chunks, harness.Outputs()["o"]);
    }

    [Fact]
    public async Task ACommitThatFailsAfterTheNextBatchWasTakenReadsBothAgainAndWritesEverythingOnce()
    {
        using var harness = new ProcessorHarness(configure: o => o.MaxBatchRecords = 4);
        var (thread, _) = harness.Start();
        var (chunks, step, stall) = await StepWithTheNextBatchTakenDuringTheCommit(harness, thread, "f", FaultPoint.SendOffsets);

        harness.Cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable());
        stall.Release();
        await step.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, harness.OutputCount("f"));

        // Seqs 5-7, taken while the failed commit ran, are dropped with the rewind and read again after seqs 1-4: kept,
        // they would come before 1-4 (held as a gap) and again after them (counted as duplicates).
        harness.StepUntil(() => harness.OutputCount("f") == 8);
        ProcessorHarness.AssertReference(chunks, harness.Outputs()["f"]);
        Assert.Equal(1L, harness.Telemetry.Aborts);
        Assert.Equal(0L, harness.Telemetry.Duplicates);
        Assert.Equal(0L, harness.Telemetry.Gaps);
    }

    [Fact]
    public async Task ARebalanceWhileACommitRunsWaitsForItAndMovesPartitionsWithoutLossOrDuplicates()
    {
        using var harness = new ProcessorHarness(partitions: 2, configure: o => o.MaxBatchRecords = 4);
        var (first, _) = harness.Start(instanceId: "first");
        var sent = new[] { "r0", "r1" }.ToDictionary(s => s, s => Enumerable.Range(0, 8).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        harness.Produce(sent["r0"][0], 0);
        harness.Produce(sent["r1"][0], 1);
        harness.StepUntil(() => harness.OutputCount("r0") == 1 && harness.OutputCount("r1") == 1);

        // The commit of the next batch waits at its offsets; the step's fifth Consume, the first made while that commit
        // runs (four fill the batch), waits too, until a second member has joined: the revocation comes in that call.
        var name = harness.Supplier.Consumers[0].Name;
        var calls = 0;
        var commit = harness.Cluster.Faults.Stall(FaultPoint.SendOffsets, c => c.Owner?.EndsWith("first", StringComparison.Ordinal) == true);
        var consume = harness.Cluster.Faults.Stall(FaultPoint.Consume, c => c.Client == name && ++calls == 5);
        for (var seq = 1; seq < 8; seq++)
        {
            harness.Produce(sent["r0"][seq], 0);
            harness.Produce(sent["r1"][seq], 1);
        }

        var step = Task.Run(() => first.Step(CancellationToken.None));
        await consume.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        var (second, _) = harness.Start(instanceId: "second");
        consume.Release();
        await commit.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        commit.Release();
        harness.StepUntil(() => step.IsCompleted, threads: second);
        await step;

        harness.StepUntil(() => harness.OutputCount("r0") == 8 && harness.OutputCount("r1") == 8);
        harness.Step(3);
        foreach (var (stream, chunks) in sent)
        {
            ProcessorHarness.AssertReference(chunks, harness.Outputs()[stream]);
        }

        Assert.Equal(0L, harness.Telemetry.Duplicates);
        Assert.True(second.AssignedPartitions.Count > 0, "The second member should own a partition.");
    }

    [Fact]
    public async Task ChunksFetchedWithTheFirstOneAfterAWaitLongerThanMaxBatchMsJoinItsBatch()
    {
        // Processor:MaxBatchMs bounds a batch's collection from its first record (docs/processor.md, "Batching is group
        // commit": it waits for a first record, then takes what is already fetched). Until 2026-12-04 the bound also
        // counted the wait for that first record, so chunks that arrived together after a quiet spell longer than
        // MaxBatchMs were each a transaction of their own.
        using var harness = new ProcessorHarness(partitions: 1, configure: o => o.MaxBatchMs = 200);
        using var batchSize = DocumentedMetric.Collect<long>(harness.Meters, ProcessorTelemetry.Name, "signalpipeline.processor.batch.size");
        var (thread, _) = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("warm-up", 0), 0);
        harness.StepUntil(() => harness.OutputCount("warm-up") == 1);
        batchSize.Clear();

        // The step's wait for a first record is held past MaxBatchMs while three chunks arrive.
        var name = harness.Supplier.Consumers[0].Name;
        var wait = harness.Cluster.Faults.Stall(FaultPoint.Consume, c => c.Client == name);
        var step = Task.Run(() => thread.Step(CancellationToken.None));
        await wait.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        var sent = Enumerable.Range(0, 3).Select(seq => ProcessorHarness.Chunk("after-quiet", seq)).ToList();
        sent.ForEach(chunk => harness.Produce(chunk, 0));
        await Task.Delay(2 * harness.Options.MaxBatchMs);
        wait.Release();
        await step.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal([3L], batchSize.Matching().Select(m => m.Value));
        ProcessorHarness.AssertReference(sent, harness.Outputs()["after-quiet"]);
    }

    /// <summary>The seqs in the output as a dev broker's reader gets them: records of aborted and open transactions too (-1: undecodable).</summary>
    private static List<long> SeqsAsTheDevBrokerShowsThem(ProcessorHarness harness)
        => [.. harness.Cluster.ReadUncommitted(ProcessorHarness.Output)
            .Select(r => SampleCodec.TryDecodeFilteredChunk(r.Message.Key, r.Message.Value, r.Message.Headers, out var chunk, out _) ? chunk.Seq : -1)];

    /// <summary>
    /// Seq 0 of <paramref name="stream"/> goes through first (partition 0, batches of 4); then seqs 1-7 are produced and
    /// a step starts on another thread: seqs 1-4 fill its batch, whose commit stalls at <paramref name="stallAt"/>, and
    /// seqs 5-7 are taken meanwhile (the consumer's position moves past them). Returns once they are.
    /// </summary>
    private static async Task<(List<SampleChunk> Chunks, Task Step, FaultStall Stall)> StepWithTheNextBatchTakenDuringTheCommit(
        ProcessorHarness harness, StreamThread thread, string stream, FaultPoint stallAt)
    {
        var chunks = Enumerable.Range(0, 8).Select(seq => ProcessorHarness.Chunk(stream, seq)).ToList();
        harness.Produce(chunks[0], 0);
        harness.StepUntil(() => harness.OutputCount(stream) == 1);

        var stall = harness.Cluster.Faults.Stall(stallAt);
        chunks.Skip(1).ToList().ForEach(c => harness.Produce(c, 0));
        var step = Task.Run(() => thread.Step(CancellationToken.None));
        await stall.Reached.WaitAsync(TimeSpan.FromSeconds(30));
        var (consumer, partition) = (harness.Supplier.Consumers[0], new TopicPartition(ProcessorHarness.Input, 0));
        Assert.True(SpinWait.SpinUntil(() => consumer.Position(partition) == 8, TimeSpan.FromSeconds(30)), $"position {consumer.Position(partition)}");
        return (chunks, step, stall);
    }

    [Fact]
    public void PartitionsAddedToTheInputBeyondTheChangelogStopTheProcessorNamingTheChangelogAndItsFix()
    {
        // Before: the new partition's restore failed on the missing changelog partition and was tried again every
        // second, forever, with every partition of the instance paused (they are restored together).
        using var harness = new ProcessorHarness(partitions: 2);
        StartWithOneCommit(harness, 0);

        harness.Cluster.AddPartitions(ProcessorHarness.Input, 3);
        harness.Produce(ProcessorHarness.Chunk("n", 0), 2);

        var stopped = StepsUntilStopped(harness);
        Assert.Contains($"CHANGELOG_TOPIC '{ProcessorHarness.Changelog}' has 2 partitions but INPUT_TOPIC '{ProcessorHarness.Input}' has 3", stopped.Message);
        Assert.Contains($"kafka-topics --alter --topic {ProcessorHarness.Changelog} --partitions 3", stopped.Message);
        Assert.Equal([0L], harness.Outputs()["a"].Select(c => c.Seq));
    }

    [Fact]
    public void PartitionsAddedToTheChangelogAndThenToTheInputAreTakenWhileRunningAndTheOutputMappingStays()
    {
        using var harness = new ProcessorHarness(partitions: 2);
        StartWithOneCommit(harness, 1);

        harness.Cluster.AddPartitions(ProcessorHarness.Changelog, 3);
        harness.Cluster.AddPartitions(ProcessorHarness.Input, 3);
        harness.Cluster.AddPartitions(ProcessorHarness.Output, 4); // read once at start: the mapping stays p % 2 until a restart
        harness.Produce(ProcessorHarness.Chunk("a", 1), 1);
        harness.Produce(ProcessorHarness.Chunk("n", 0), 2);
        harness.StepUntil(() => harness.OutputCount("a") == 2 && harness.OutputCount("n") == 1);

        var partitions = harness.Cluster.ReadCommitted(ProcessorHarness.Output).ToLookup(r => Encoding.UTF8.GetString(r.Message.Key), r => r.Partition.Value);
        Assert.Equal([1, 1], partitions["a"]);
        Assert.Equal([0], partitions["n"]);
        Assert.Contains(harness.Cluster.ReadCommitted(ProcessorHarness.Changelog), r => r.Partition.Value == 2);
    }

    [Theory]
    [InlineData(ProcessorHarness.Output, "OUTPUT_TOPIC")]
    [InlineData(ProcessorHarness.Dlq, "DLQ_TOPIC")]
    [InlineData(ProcessorHarness.Changelog, "CHANGELOG_TOPIC")]
    public void ATopicTheProcessorWritesDeletedWhileRunningStopsItNamingTheTopicInsteadOfRetryingForever(string topic, string setting)
    {
        // Before: every batch was aborted and retried, forever (/alive healthy, /health unhealthy only after
        // Processor:MaxBatchAttempts, naming a refused record, not the deleted topic).
        using var harness = new ProcessorHarness();
        var (_, health) = StartWithOneCommit(harness, 0);

        harness.Cluster.DeleteTopic(topic);
        harness.Produce(ProcessorHarness.Chunk("a", 1), 0);
        harness.ProduceRaw("a", "not json", 0);

        var stopped = StepsUntilStopped(harness);
        Assert.Contains($"{setting}: topic '{topic}' does not exist any more", stopped.Message);
        Assert.Contains("signal-pipeline kafka topics ensure", stopped.Message);
        Assert.Equal(1, health.ConsecutiveFailures); // stopped at the first failed batch, after its abort
    }

    [Theory]
    [InlineData(ProcessorHarness.Output, "OUTPUT_TOPIC")]
    [InlineData(ProcessorHarness.Dlq, "DLQ_TOPIC")]
    [InlineData(ProcessorHarness.Changelog, "CHANGELOG_TOPIC")]
    public void ATopicWhoseMaxMessageBytesIsLoweredWhileRunningStopsTheProcessorAtTheFirstRefusedRecordNamingTheFix(string topic, string setting)
    {
        // Before: the broker refused the record on every retry, forever (/health unhealthy after Processor:MaxBatchAttempts,
        // naming a refused record, not the topic setting that refuses it); the start check already refused to start so.
        using var harness = new ProcessorHarness();
        var (_, health) = StartWithOneCommit(harness, 0);

        harness.Cluster.SetTopicConfig(topic, "max.message.bytes", "50"); // smaller than any output, dead letter or stream checkpoint
        harness.Produce(ProcessorHarness.Chunk("a", 1), 0);
        harness.ProduceRaw("a", "not json", 0);

        var stopped = StepsUntilStopped(harness);
        Assert.Contains($"the broker refused a record for topic '{topic}' (MsgSizeTooLarge Broker: Message size too large); topic '{topic}' ({setting}) takes records of at most 50 bytes (max.message.bytes), fewer than the 1000000", stopped.Message);
        Assert.Contains($"kafka-configs --bootstrap-server in-memory:9092 --alter --entity-type topics --entity-name {topic} --add-config max.message.bytes=1000000", stopped.Message);
        Assert.Equal(1, health.ConsecutiveFailures); // stopped at the first failed batch, after its abort
        Assert.Equal([0L], harness.Outputs()["a"].Select(c => c.Seq));
        Assert.Empty(harness.DeadLetters());
    }

    [Theory]
    [InlineData(ProcessorHarness.Output, "OUTPUT_TOPIC")]
    [InlineData(ProcessorHarness.Changelog, "CHANGELOG_TOPIC")]
    public void ATopicWhoseSegmentBytesIsLoweredWhileRunningStopsTheProcessorAtTheFirstRefusedBatchNamingTheFix(string topic, string setting)
    {
        // The broker refuses a batch larger than a log segment (RECORD_LIST_TOO_LARGE) whatever max.message.bytes says;
        // before 2026-12-07 every retry was refused the same way.
        using var harness = new ProcessorHarness();
        var (_, health) = StartWithOneCommit(harness, 0);

        harness.Cluster.SetTopicConfig(topic, "segment.bytes", "50");
        harness.Produce(ProcessorHarness.Chunk("a", 1), 0);

        var stopped = StepsUntilStopped(harness);
        Assert.Contains($"the broker refused a record for topic '{topic}' (RecordListTooLarge Broker: Message batch larger than configured server segment size); topic '{topic}' ({setting}) keeps log segments of at most 50 bytes (segment.bytes), fewer than the 1000000 a batch of this service may hold", stopped.Message);
        Assert.Contains($"kafka-configs --bootstrap-server in-memory:9092 --alter --entity-type topics --entity-name {topic} --add-config segment.bytes=1000000' (or a smaller Kafka:Producer:message.max.bytes)", stopped.Message);
        Assert.Equal(1, health.ConsecutiveFailures);
        Assert.Equal([0L], harness.Outputs()["a"].Select(c => c.Seq));
    }

    [Fact]
    public void ADeadLetterTopicMadeCompactedWhileRunningStopsTheProcessorAtTheFirstLetterWithoutAKeyNamingTheFix()
    {
        // A poison record without a key is dead-lettered without one; a compacted topic's broker refuses it (INVALID_RECORD),
        // and before, every retry of its batch was refused the same way.
        using var harness = new ProcessorHarness();
        var (_, health) = StartWithOneCommit(harness, 0);

        harness.Cluster.SetTopicConfig(ProcessorHarness.Dlq, "cleanup.policy", "compact");
        harness.Produce(ProcessorHarness.Chunk("a", 1), 0);
        harness.Cluster.Produce(ProcessorHarness.Input, 0, null, "not json"u8.ToArray());

        var stopped = StepsUntilStopped(harness);
        Assert.Contains($"the broker refused a record for topic '{ProcessorHarness.Dlq}' (InvalidRecord Broker: Invalid record); dead-letter topic '{ProcessorHarness.Dlq}' (DLQ_TOPIC) is compacted (cleanup.policy=compact)", stopped.Message);
        Assert.Contains($"--entity-name {ProcessorHarness.Dlq} --add-config cleanup.policy=delete", stopped.Message);
        Assert.Equal(1, health.ConsecutiveFailures);
        Assert.Equal([0L], harness.Outputs()["a"].Select(c => c.Seq));
    }

    [Theory]
    [InlineData(ProcessorHarness.Output, ErrorCode.TopicAuthorizationFailed)]
    [InlineData(ProcessorHarness.Changelog, ErrorCode.TopicAuthorizationFailed)]
    [InlineData(ProcessorHarness.Output, ErrorCode.ClusterAuthorizationFailed)]
    public void ARecordRefusedForWantOfAnACLStopsTheProcessorAtTheFirstRefusalNamingWhatItNeeds(string topic, ErrorCode refusal)
    {
        // Every retry would be refused the same way until an operator changes the ACLs (Kafka Streams' thread dies on an
        // AuthorizationException); before 2026-12-07 the batch was retried, forever.
        using var harness = new ProcessorHarness();
        var (_, health) = StartWithOneCommit(harness, 0);

        harness.Cluster.Faults.FailDelivery(refusal, count: 1000, when: c => c.Topic == topic);
        harness.Produce(ProcessorHarness.Chunk("a", 1), 0);

        var stopped = Assert.Throws<AccessRefusedException>(() => harness.StepUntil(() => false, maxSteps: 20));
        Assert.StartsWith($"Kafka refused the processor access; it stops: the broker refused a record for topic '{topic}' ({refusal} Broker: ", stopped.Message);
        Assert.Contains($"READ and WRITE on topic '{ProcessorHarness.Changelog}' (CHANGELOG_TOPIC) and WRITE on transactional id 'filter-kafka-processor-", stopped.Message);
        Assert.EndsWith("Nothing uncommitted was kept: started again, it resumes from the last commit.", stopped.Message);
        Assert.Equal(1, health.ConsecutiveFailures);
        Assert.Equal([0L], harness.Outputs()["a"].Select(c => c.Seq));
    }

    [Theory]
    [InlineData(ErrorCode.TopicAuthorizationFailed, false)]
    [InlineData(ErrorCode.GroupAuthorizationFailed, false)]
    [InlineData(ErrorCode.TopicAuthorizationFailed, true)] // the error callback's (a metadata refusal), not Consume's
    public void AConsumerRefusedForWantOfAnACLStopsTheProcessorAtItsNextStep(ErrorCode refusal, bool callback)
    {
        // Before 2026-12-07: a warning per fetch, nothing consumed, /health healthy.
        using var harness = new ProcessorHarness();
        StartWithOneCommit(harness, 0);

        harness.Cluster.Faults.Fail(FaultPoint.Consume, () => callback ? KafkaFaults.ErrorEvent(refusal) : KafkaFaults.ConsumeError(refusal), count: 1000);
        var stopped = Assert.Throws<AccessRefusedException>(() => harness.StepUntil(() => false, maxSteps: 20));
        Assert.StartsWith($"Kafka refused the processor access; it stops: the group consumer's {refusal}", stopped.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the changelog's READ taken away, found in metadata: librdkafka tells the error callback only
    public void ARestoreRefusedForWantOfAnACLStopsTheProcessorInsteadOfRetryingTheRestore(bool callback)
    {
        // READ on the changelog missing: before 2026-12-07 the restore failed and was tried again every second, forever,
        // its partitions waiting.
        using var harness = new ProcessorHarness();
        var (first, _) = StartWithOneCommit(harness, 0);
        first.Dispose();

        harness.Cluster.Faults.Fail(FaultPoint.Consume,
            () => callback ? KafkaFaults.ErrorEvent(ErrorCode.TopicAuthorizationFailed) : KafkaFaults.ConsumeError(ErrorCode.TopicAuthorizationFailed),
            count: 1000, when: c => c.Client.StartsWith("restore-", StringComparison.Ordinal));
        var (next, _) = harness.Start(instanceId: "next");
        var stopped = Assert.Throws<AccessRefusedException>(() => harness.StepUntil(() => false, maxSteps: 20, next));
        Assert.StartsWith("Kafka refused the processor access; it stops: the restore's TopicAuthorizationFailed", stopped.Message);
    }

    [Fact]
    public void ARecordRefusedAsTooLargeByAClusterThatWillNotDescribeItsConfigsIsRetriedWithAWarningSayingWhatToCheck()
    {
        // The dev broker refuses DescribeConfigs: the limit cannot be read, so the batch is retried (as any refused record),
        // and the warning names the topic and the sizes to check; once the topic takes the record again, nothing is lost.
        using var harness = new ProcessorHarness();
        var log = new Microsoft.Extensions.Logging.Testing.FakeLogger();
        var (_, health) = harness.Start(logger: log);
        harness.Cluster.RefuseDescribeConfigs = true;
        harness.Cluster.SetTopicConfig(ProcessorHarness.Output, "max.message.bytes", "100");
        var sent = Send(harness, ["a"], chunks: 2);

        harness.StepUntil(() => health.ConsecutiveFailures >= 2);
        Assert.Contains(log.Collector.GetSnapshot(), r => r.Message.Contains(
            $"The broker refused a record for topic '{ProcessorHarness.Output}' (MsgSizeTooLarge Broker: Message size too large), and the cluster would not describe the topic's configs: check that its max.message.bytes and segment.bytes take 1000000 bytes",
            StringComparison.Ordinal));
        Assert.False(harness.Outputs().ContainsKey("a"));

        harness.Cluster.SetTopicConfig(ProcessorHarness.Output, "max.message.bytes", "1000000");
        harness.StepUntil(() => harness.OutputCount("a") == 2);
        ProcessorHarness.AssertReference(sent["a"], harness.Outputs()["a"]);
    }

    [Fact]
    public void ARecordRefusedAsTooLargeWhileItsTopicTakesWhatTheProcessorWritesIsRetriedWithAWarningGivingTheTopicsLimits()
    {
        // The topic's limit raised again before the check asked (or a broker's own limit): nothing to stop for, the retry goes on.
        using var harness = new ProcessorHarness();
        var log = new Microsoft.Extensions.Logging.Testing.FakeLogger();
        harness.Start(logger: log);
        harness.Cluster.Faults.FailDelivery(ErrorCode.MsgSizeTooLarge, count: 1, when: c => c.Topic == ProcessorHarness.Output);
        var sent = Send(harness, ["a"], chunks: 2);

        harness.StepUntil(() => harness.OutputCount("a") == 2);

        ProcessorHarness.AssertReference(sent["a"], harness.Outputs()["a"]);
        Assert.Contains(log.Collector.GetSnapshot(), r => r.Message.Contains(
            $"The broker refused a record for topic '{ProcessorHarness.Output}' (MsgSizeTooLarge ", StringComparison.Ordinal)
            && r.Message.Contains("whose max.message.bytes (1048588), segment.bytes (1073741824) and cleanup.policy (unknown) now take what the processor writes (records and batches of up to 1000000 bytes", StringComparison.Ordinal));
    }

    [Fact]
    public void AtStartTheFourTopicsAreLookedUpInOneRequestAndEveryMissingOneIsNamed()
    {
        // Before: one look-up per topic (with Kafka away, four 15 s timeouts in a row), and only the first missing
        // topic named, so fixing it led to the next start's error.
        using var harness = new ProcessorHarness();
        harness.Cluster.DeleteTopic(ProcessorHarness.Dlq);
        harness.Cluster.DeleteTopic(ProcessorHarness.Changelog);

        var error = Assert.Throws<InvalidOperationException>(() => harness.Start());
        Assert.Contains($"DLQ_TOPIC: topic '{ProcessorHarness.Dlq}' does not exist", error.Message);
        Assert.Contains($"CHANGELOG_TOPIC: topic '{ProcessorHarness.Changelog}' does not exist", error.Message);
        Assert.Contains("signal-pipeline kafka topics ensure", error.Message);
        Assert.DoesNotContain("INPUT_TOPIC", error.Message);
        Assert.Equal(1, harness.Supplier.TopicLookups);
    }

    [Theory]
    [InlineData(1000, "largest chunk accepted: 1000 f64 / 1000 f32 samples (message.max.bytes 1000000)")]
    [InlineData(100000, "largest chunk accepted: 62244 f64 / 100000 f32 samples (message.max.bytes 1000000)")]
    public void TheLargestChunkLoggedAtStartIsTheSmallerOfWhatAMessageHoldsAndMaxChunkSamples(int maxChunkSamples, string logged)
    {
        // docs/processor.md (Settings): "The largest chunk accepted in each binary form is logged at start"; a chunk over
        // Processor:MaxChunkSamples is refused (too-many-samples) whatever fits a message, so the log names the smaller.
        using var harness = new ProcessorHarness(configure: o => o.MaxChunkSamples = maxChunkSamples);
        var log = new Microsoft.Extensions.Logging.Testing.FakeLogger();

        harness.Start(maxMessageBytes: 1_000_000, logger: log);

        var messages = log.Collector.GetSnapshot().Select(r => r.Message).ToList();
        Assert.True(messages.Any(m => m.Contains(logged, StringComparison.Ordinal)), string.Join(Environment.NewLine, messages));
    }

    [Fact]
    public void TheInputTopicDeletedWhileRunningStopsTheProcessorInsteadOfIdlingWithAHealthyCheck()
    {
        // Before: librdkafka's "Subscribed topic not available" was logged, the partitions revoked, and the processor
        // consumed nothing from then on with /health healthy ("Consuming sample-input").
        using var harness = new ProcessorHarness();
        StartWithOneCommit(harness, 0);

        harness.Cluster.DeleteTopic(ProcessorHarness.Input);

        var stopped = StepsUntilStopped(harness);
        Assert.Contains($"INPUT_TOPIC: topic '{ProcessorHarness.Input}' does not exist any more", stopped.Message);
    }

    /// <summary>A started instance that has committed seq 0 of stream "a", sent to <paramref name="partition"/>.</summary>
    private static (StreamThread Thread, ProcessorHealth Health) StartWithOneCommit(ProcessorHarness harness, int partition)
    {
        var started = harness.Start();
        harness.Produce(ProcessorHarness.Chunk("a", 0), partition);
        harness.StepUntil(() => harness.OutputCount("a") == 1);
        return started;
    }

    /// <summary>The stream thread's stop because its topics changed, within 20 steps.</summary>
    private static TopicsChangedException StepsUntilStopped(ProcessorHarness harness)
        => Assert.Throws<TopicsChangedException>(() => harness.StepUntil(() => false, maxSteps: 20));

    private static Dictionary<string, List<SampleChunk>> Send(ProcessorHarness harness, string[] streams, int chunks)
    {
        var sent = streams.ToDictionary(s => s, s => Enumerable.Range(0, chunks).Select(seq => ProcessorHarness.Chunk(s, seq)).ToList());
        for (var seq = 0; seq < chunks; seq++)
        {
            for (var s = 0; s < streams.Length; s++)
            {
                harness.Produce(sent[streams[s]][seq], s % 4);
            }
        }

        return sent;
    }

    /// <summary>Kalman, except the chunk with seq <c>refuse</c> is refused like a 4xx of the algorithm service.</summary>
    private sealed class RefusingFilterer(long refuse) : IChunkFilterer
    {
        private readonly LocalChunkFilterer _inner = new("kalman", new Dictionary<string, double>());

        public Task FilterAsync(IReadOnlyList<FilterWork> work, CancellationToken cancellationToken)
            => work.Any(w => w.Input.Length == 16 && w.Input.Span[0] == ProcessorHarness.Chunk("r", refuse).Signal.Span[0])
                ? throw new ChunkRefusedException("400: items[0].signal is refused", System.Net.HttpStatusCode.BadRequest)
                : _inner.FilterAsync(work, cancellationToken);

        public bool IsChunkFault(Exception failure) => failure is ChunkRefusedException;
    }
}
