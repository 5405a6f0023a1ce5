using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Sequencing;
using FilterKafkaProcessor.State;
using SignalPipeline.Filters;
using SignalPipeline.Messages;

namespace FilterKafkaProcessor.Streaming;

/// <summary>What every partition task shares: settings, limits, the stream count of the instance.</summary>
public sealed class TaskContext(ProcessorOptions options, ChunkLimits limits, StreamConfigTable? configs = null)
{
    private readonly StreamFilterConfig _default = configs?.Default ?? StreamFilterConfig.Create(options.Algorithm, options.Params);

    public ProcessorOptions Options { get; } = options;

    public ChunkLimits Limits { get; } = limits;

    public DecodeLimits DecodeLimits { get; } = new() { MaxSamples = options.MaxChunkSamples };

    /// <summary>Streams held by this instance (all partitions), for <see cref="ProcessorOptions.MaxStreams"/>.</summary>
    public int StreamCount { get; set; }

    /// <summary>
    /// What the streams of this instance take in memory (all partitions), for <see cref="ProcessorOptions.MaxStreamBytes"/>:
    /// as of the last commit, plus what each stream started since will take once committed (<see cref="NewStreamBytes"/>).
    /// </summary>
    public long StreamBytes { get; set; }

    /// <summary>
    /// What a new stream will take once its first transaction commits: its id and the filter state of its config (its
    /// valid stream-config entry, else the deployment default), counted from its first chunk on, so the new streams of one
    /// batch cannot pass <see cref="ProcessorOptions.MaxStreamBytes"/> together before their states are committed.
    /// </summary>
    public long NewStreamBytes(string streamId) => StreamState.BytesOf(streamId) + (configs?.Find(streamId)?.Config ?? _default).StateBytes;

    /// <summary>Bytes of held chunks in this instance (all partitions), for <see cref="ProcessorOptions.MaxHeldBytes"/>.</summary>
    public long HeldBytes { get; set; }
}

/// <summary>A record's decode: the chunk, or why it is not one.</summary>
public readonly record struct DecodedRecord(SampleChunk? Chunk, DecodeError Error);

/// <summary>
/// One input partition's processing (Kafka Streams' StreamTask): each record is decoded, checked, put in seq order in
/// its stream, and what is released becomes work of the batch; a record that cannot be processed becomes a dead letter
/// and touches nothing else. Pure but for the clock it is given: no Kafka client here.
/// </summary>
public sealed class PartitionTask(PartitionState state, TaskContext context)
{
    private readonly List<ChunkEnvelope> _released = [];
    private StreamSequence<ChunkEnvelope> _scratch = new();

    public PartitionState State { get; } = state;

    public int Partition => State.Partition;

    /// <summary>
    /// Decodes a record; touches nothing, so the records of a batch can be decoded on several threads. A float64 chunk's
    /// samples are the record value's own bytes (<see cref="SampleCodec.TryDecodeSampleChunkOver"/>): the record and its
    /// envelope keep that array, and nothing writes to it.
    /// </summary>
    public static DecodedRecord Decode(ConsumeResult<byte[], byte[]> record, DecodeLimits limits)
    {
        var message = record.Message;
        return SampleCodec.TryDecodeSampleChunkOver(message.Key ?? [], message.Value ?? [], message.Headers, out var chunk, out var error, limits)
            ? new(chunk, default)
            : new(null, error);
    }

    /// <summary>Takes one record of this partition, already decoded by <see cref="Decode"/>, into the batch.</summary>
    public void Accept(ConsumeResult<byte[], byte[]> record, in DecodedRecord decoded, Batch batch, long nowMs)
    {
        batch.LastOffsets[Partition] = record.Offset.Value;
        State.PendingSinceMs ??= nowMs;
        var message = record.Message;
        if (decoded.Chunk is not { } chunk)
        {
            batch.DeadLetters.Add(DeadLetter.From(record, decoded.Error));
            return;
        }

        if (chunk.Seq > StreamSequence<ChunkEnvelope>.MaxSeq)
        {
            batch.DeadLetters.Add(DeadLetter.From(record, PoisonCodes.SeqOutOfRange, $"seq {chunk.Seq} is above the largest seq {StreamSequence<ChunkEnvelope>.MaxSeq}"));
            return;
        }

        if (context.Limits.OutputTooLarge(chunk) is { } tooLarge)
        {
            batch.DeadLetters.Add(DeadLetter.From(record, PoisonCodes.OutputTooLarge, tooLarge));
            return;
        }

        if (!State.TryGet(chunk.StreamId, out var stream))
        {
            if (context.StreamCount >= context.Options.MaxStreams)
            {
                batch.DeadLetters.Add(DeadLetter.From(record, PoisonCodes.TooManyStreams,
                    $"this instance holds {context.StreamCount} streams, its limit (Processor:MaxStreams = {context.Options.MaxStreams}); new streams are refused until idle ones are evicted"));
                return;
            }

            var bytes = context.NewStreamBytes(chunk.StreamId);
            if (context.StreamBytes + bytes > context.Options.MaxStreamBytes)
            {
                batch.DeadLetters.Add(DeadLetter.From(record, PoisonCodes.TooManyStreams,
                    $"this instance's {context.StreamCount} streams take about {context.StreamBytes} bytes (ids and filter states) and this one would take {bytes} more, past its limit (Processor:MaxStreamBytes = {context.Options.MaxStreamBytes}); new streams are refused until idle ones are evicted"));
                return;
            }

            stream = new StreamState(chunk.StreamId);
            State.Add(stream, nowMs);
            context.StreamCount++;
            context.StreamBytes += bytes;
        }
        else
        {
            State.Touch(stream, nowMs);
        }

        // No timestamp_ms of its own: the record's Kafka timestamp, or when it has none either (Kafka's -1), now.
        var timestampMs = chunk.TimestampMs ?? (message.Timestamp.UnixTimestampMs is >= 0 and var kafkaMs ? kafkaMs : nowMs);
        var envelope = new ChunkEnvelope(chunk.Seq, message.Value ?? [], message.Headers, timestampMs, chunk, record.TopicPartitionOffset);
        _released.Clear();
        if (stream.Offer(chunk.Seq, envelope, context.Options.MaxHeldChunks, _released, ref batch.Counters, _scratch, out var outcome))
        {
            _scratch = new(); // the stream holds chunks now and keeps the sequence it was lent
        }

        if (outcome == SequenceOutcome.Duplicate)
        {
            return;
        }

        batch.Touched.Add(stream);
        if (outcome == SequenceOutcome.Held)
        {
            // A held chunk keeps only its raw value and headers (re-decoded when released).
            envelope.Decoded = null;
            var bytes = envelope.CheckpointBytes;
            stream.HeldBytes += bytes;
            context.HeldBytes += bytes;
        }

        Release(stream, batch, nowMs);

        // Only as many bytes as a checkpoint holds, and as the instance keeps for all its streams: a skip releases the run
        // after the lowest gap, so skip again while what stays held is still over.
        while (stream.HeldCount > 0 && (stream.HeldBytes > context.Limits.MaxHeldBytes || context.HeldBytes > context.Options.MaxHeldBytes))
        {
            SkipGap(stream, batch, nowMs);
        }
    }

    /// <summary>
    /// The decisions taken on time, once per batch: held chunks a restore found past a bound, and held chunks that
    /// waited past <c>HeldChunkTimeoutSeconds</c>, are released (the gap skipped), and streams idle past
    /// <c>StreamIdleSeconds</c> are evicted. All are written in this
    /// batch's transaction, so a replay starts after them. Walks only holding streams and the idle end of the list.
    /// A batch releases the held chunks of at most <c>MaxBatchRecords</c> streams and evicts at most as many, across its
    /// partitions; the rest wait for the next batch. (A restore gives every holding stream one start time, so until
    /// 2026-12-06 all of them timed out into one transaction, however many.)
    /// </summary>
    public void Maintain(Batch batch, long nowMs)
    {
        var maxStreams = context.Options.MaxBatchRecords;
        if (State.OverHeldBound.Count > 0)
        {
            SkipPastHeldBounds(batch, nowMs, maxStreams);
        }

        var heldTimeout = context.Options.HeldChunkTimeoutSeconds * 1000L;
        if (heldTimeout > 0 && State.Holding.Count > 0 && batch.ReleasedStreams < maxStreams)
        {
            foreach (var stream in State.Holding.Where(s => nowMs - s.HeldSinceMs >= heldTimeout).Take(maxStreams - batch.ReleasedStreams).ToList())
            {
                batch.ReleasedStreams++;
                SkipGap(stream, batch, nowMs);
            }
        }

        var idle = context.Options.StreamIdleSeconds * 1000L;
        if (idle > 0 && batch.Evicted.Count < maxStreams)
        {
            // A stream still holding chunks waits for the held timeout first.
            foreach (var stream in State.IdleSince(nowMs - idle).Where(s => s.HeldCount == 0 && !batch.Touched.Contains(s)).Take(maxStreams - batch.Evicted.Count))
            {
                batch.Evicted.Add((State, stream));
            }
        }
    }

    /// <summary>
    /// The streams a restore found holding past a bound (<see cref="PartitionState.OverHeldBound"/>) have their gaps
    /// skipped as <see cref="Accept"/> skips the gap of a stream whose chunk passes one, until the stream and the instance are
    /// within them; the released chunks are filtered and written in this batch.
    /// </summary>
    private void SkipPastHeldBounds(Batch batch, long nowMs, int maxStreams)
    {
        State.OverHeldBound.RemoveAll(s => !State.TryGet(s.StreamId, out var kept) || kept != s || !PastHeldBound(s));
        foreach (var stream in State.OverHeldBound)
        {
            if (batch.ReleasedStreams >= maxStreams)
            {
                return; // the next batch goes on: the list keeps the streams still past a bound
            }

            if (!PastHeldBound(stream))
            {
                continue; // within the bounds since an earlier stream's skip lowered the instance's held bytes
            }

            batch.ReleasedStreams++;
            do
            {
                SkipGap(stream, batch, nowMs);
            }
            while (PastHeldBound(stream));
        }
    }

    /// <summary>Skips the stream's lowest gap and queues the run it releases, in this batch's transaction.</summary>
    private void SkipGap(StreamState stream, Batch batch, long nowMs)
    {
        _released.Clear();
        stream.SkipGap(_released, ref batch.Counters);
        batch.Touched.Add(stream);
        Release(stream, batch, nowMs);
    }

    private bool PastHeldBound(StreamState stream)
        => stream.HeldCount > 0 && (stream.HeldBytes > context.Limits.MaxHeldBytes || stream.HeldCount > context.Options.MaxHeldChunks || context.HeldBytes > context.Options.MaxHeldBytes);

    /// <summary>Queues what the stream released and keeps its held bookkeeping in step.</summary>
    private void Release(StreamState stream, Batch batch, long nowMs)
    {
        foreach (var ready in _released)
        {
            var bytes = ready.Decoded is null ? ready.CheckpointBytes : 0;
            stream.HeldBytes -= bytes;
            context.HeldBytes -= bytes;
            if (ready.Decoded is null)
            {
                if (!SampleCodec.TryDecodeSampleChunkOver(Encoding.UTF8.GetBytes(stream.StreamId), ready.Value, ready.KafkaHeaders(), out var decoded, out var error, context.DecodeLimits))
                {
                    // It decoded when it arrived; only a setting lowered since its checkpoint can refuse it now.
                    batch.DeadLetters.Add(new DeadLetter(Encoding.UTF8.GetBytes(stream.StreamId), ready.Value, ready.Headers, ready.Source, error.CodeName, error.Message));
                    continue;
                }

                ready.Decoded = decoded;
            }

            batch.Work.Add(new ChunkWork(State, stream, ready, batch.RentOutput(ready.Decoded.Signal.Length)));
        }

        if (stream.HeldCount > 0)
        {
            stream.HeldSinceMs ??= nowMs;
            State.Holding.Add(stream);
        }
        else
        {
            context.HeldBytes -= stream.HeldBytes; // zero when the bookkeeping above kept step
            stream.HeldBytes = 0;
            stream.HeldSinceMs = null;
            State.Holding.Remove(stream);
        }
    }
}
