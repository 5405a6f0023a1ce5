using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using FilterProcessor.Filtering;
using FilterProcessor.Sequencing;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace FilterProcessor.State;

/// <summary>A stream's live state: its ordering rules and its filter.</summary>
public sealed class StreamState(string streamId, StreamSequence<ChunkEnvelope> sequence, StreamFilterHandle filter)
{
    public string StreamId { get; } = streamId;

    public StreamSequence<ChunkEnvelope> Sequence { get; } = sequence;

    public StreamFilterHandle Filter { get; } = filter;

    /// <summary>Changed in the open transaction: its checkpoint is written before commit.</summary>
    public bool Dirty { get; set; }

    public StreamCheckpoint ToCheckpoint()
        => new(Sequence.NextSeq, Filter.SaveState(), [.. Sequence.Held.Select(h => h.Value.ToPending())]);
}

/// <summary>A chunk on its way through the ordering rules: the record as read (for a checkpoint) and, once decoded, its samples.</summary>
public sealed class ChunkEnvelope
{
    private readonly Headers? _kafkaHeaders;
    private IReadOnlyList<KeyValuePair<string, byte[]>>? _headers;

    /// <summary>A chunk just read: its headers are copied only if it has to be checkpointed.</summary>
    public ChunkEnvelope(long seq, byte[] value, Headers? headers, long timestampMs, SampleChunk decoded)
    {
        Seq = seq;
        Value = value;
        _kafkaHeaders = headers;
        TimestampMs = timestampMs;
        Decoded = decoded;
    }

    private ChunkEnvelope(PendingChunk pending)
    {
        Seq = pending.Seq;
        Value = pending.Value;
        _headers = pending.Headers;
        TimestampMs = pending.TimestampMs;
    }

    public long Seq { get; }

    public long TimestampMs { get; }

    public SampleChunk? Decoded { get; set; }

    public byte[] Value { get; }

    public IReadOnlyList<KeyValuePair<string, byte[]>> Headers
        => _headers ??= _kafkaHeaders is null ? [] : [.. _kafkaHeaders.Select(h => KeyValuePair.Create(h.Key, h.GetValueBytes()))];

    public PendingChunk ToPending() => new(Seq, Value, Headers, TimestampMs);

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

/// <summary>One assigned input partition's state.</summary>
public sealed class PartitionState(int partition, long nextInputOffset, long outputEnd)
{
    public int Partition { get; } = partition;

    /// <summary>The first input offset not covered by the last committed checkpoint.</summary>
    public long NextInputOffset { get; set; } = nextInputOffset;

    /// <summary>A lower bound of the output partition's end after the last commit (the next checkpoint's scan start).</summary>
    public long OutputEnd { get; set; } = outputEnd;

    public Dictionary<string, StreamState> Streams { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Per stream, the highest seq found in the output partition past the checkpoint at restore: outputs an unfinished
    /// transaction left visible (only possible on a broker without read_committed isolation, see docs/processor.md).
    /// Those chunks are filtered again to rebuild the state but not written twice.
    /// </summary>
    public Dictionary<string, long> AlreadyOutput { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Rebuilds assigned partitions' state (Kafka Streams' restore): reads the changelog partition of the same number from
/// the beginning to its end (last record per key wins), then scans the output partition from the checkpoint's scan
/// start to its end.
/// </summary>
public sealed class StateRestorer(KafkaClientFactory kafka, ProcessorOptions options, ILogger logger) : IDisposable
{
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan RestoreTimeout = TimeSpan.FromMinutes(2);

    private readonly IConsumer<byte[], byte[]> _reader = kafka.CreateConsumer<byte[], byte[]>(
        ProcessorOptions.ConsumerGroup + "-restore",
        config =>
        {
            config.IsolationLevel = IsolationLevel.ReadCommitted;
            config.EnableAutoCommit = false;
            config.EnableAutoOffsetStore = false;
            config.EnablePartitionEof = true;
            config.AutoOffsetReset = AutoOffsetReset.Earliest;
        });

    public Dictionary<int, PartitionState> Restore(IReadOnlyCollection<int> partitions, Func<int, int> outputPartition)
    {
        var result = new Dictionary<int, PartitionState>();
        if (partitions.Count == 0)
        {
            return result;
        }

        var checkpoints = new Dictionary<int, (PartitionCheckpoint? Partition, Dictionary<string, StreamCheckpoint> Streams)>();
        foreach (var p in partitions)
        {
            checkpoints[p] = (null, new(StringComparer.Ordinal));
        }

        ReadToEnd(options.ChangelogTopic, partitions.ToDictionary(p => p, _ => (Offset)Offset.Beginning), (p, record) =>
        {
            var key = record.Message.Key is null ? null : Encoding.UTF8.GetString(record.Message.Key);
            if (key is null)
            {
                return;
            }

            var entry = checkpoints[p];
            if (key == PartitionCheckpoint.Key)
            {
                checkpoints[p] = (record.Message.Value is null ? null : PartitionCheckpoint.Deserialize(record.Message.Value), entry.Streams);
            }
            else if (record.Message.Value is null)
            {
                entry.Streams.Remove(key);
            }
            else
            {
                try
                {
                    entry.Streams[key] = StreamCheckpoint.Deserialize(record.Message.Value);
                }
                catch (FormatException e)
                {
                    throw new InvalidOperationException(
                        $"Changelog {options.ChangelogTopic} [{p}] @{record.Offset}: the checkpoint of stream '{key}' is corrupt: {e.Message}", e);
                }
            }
        });

        foreach (var p in partitions)
        {
            var (partitionCheckpoint, streams) = checkpoints[p];
            var state = new PartitionState(p, partitionCheckpoint?.NextInputOffset ?? Offset.Beginning.Value, 0);
            foreach (var (streamId, checkpoint) in streams)
            {
                state.Streams[streamId] = new StreamState(
                    streamId,
                    new StreamSequence<ChunkEnvelope>(checkpoint.NextSeq, checkpoint.Held.Select(h => KeyValuePair.Create(h.Seq, ChunkEnvelope.FromPending(h)))),
                    new StreamFilterHandle(checkpoint.FilterState));
            }

            result[p] = state;
        }

        // Output partitions may be shared by several input partitions (fewer output partitions): scan each once.
        var scanFrom = new Dictionary<int, Offset>();
        foreach (var p in partitions)
        {
            var from = checkpoints[p].Partition is { } cp ? new Offset(cp.OutputScanFrom) : Offset.Beginning;
            var output = outputPartition(p);
            scanFrom[output] = scanFrom.TryGetValue(output, out var existing) && Min(existing, from) == existing ? existing : from;
        }

        var highestSeq = new Dictionary<int, Dictionary<string, long>>();
        var outputEnds = ReadToEnd(options.OutputTopic, scanFrom, (output, record) =>
        {
            if (!SampleCodec.TryDecodeFilteredChunk(record.Message.Key ?? [], record.Message.Value ?? [], record.Message.Headers, out var chunk, out _, limits: new DecodeLimits { MaxSamples = options.MaxChunkSamples }))
            {
                return;
            }

            var seqs = highestSeq.TryGetValue(output, out var s) ? s : highestSeq[output] = new(StringComparer.Ordinal);
            seqs[chunk.StreamId] = Math.Max(seqs.GetValueOrDefault(chunk.StreamId, -1), chunk.Seq);
        });

        foreach (var (p, state) in result)
        {
            var output = outputPartition(p);
            state.OutputEnd = outputEnds.GetValueOrDefault(output);
            foreach (var (streamId, seq) in highestSeq.GetValueOrDefault(output) ?? [])
            {
                var next = state.Streams.TryGetValue(streamId, out var stream) ? stream.Sequence.NextSeq : 0;
                if (seq >= next)
                {
                    state.AlreadyOutput[streamId] = seq;
                }
            }

            if (state.AlreadyOutput.Count > 0)
            {
                logger.LogWarning(
                    "Partition {Partition}: the output already holds chunks past the checkpoint for {Streams} streams (an unfinished transaction's records are visible); they are re-filtered but not written again",
                    p, state.AlreadyOutput.Count);
            }
        }

        return result;
    }

    private static Offset Min(Offset a, Offset b)
        => a == Offset.Beginning || b == Offset.Beginning ? Offset.Beginning : new Offset(Math.Min(a.Value, b.Value));

    /// <summary>Reads each partition from its start offset to its end; returns each partition's high watermark.</summary>
    private Dictionary<int, long> ReadToEnd(string topic, IReadOnlyDictionary<int, Offset> from, Action<int, ConsumeResult<byte[], byte[]>> onRecord)
    {
        var ends = new Dictionary<int, long>();
        var pending = new HashSet<int>();
        foreach (var (p, start) in from)
        {
            var watermarks = _reader.QueryWatermarkOffsets(new TopicPartition(topic, p), QueryTimeout);
            ends[p] = watermarks.High.Value;
            var startOffset = start == Offset.Beginning ? watermarks.Low.Value : Math.Max(start.Value, watermarks.Low.Value);
            if (watermarks.High.Value > startOffset)
            {
                pending.Add(p);
            }
        }

        if (pending.Count == 0)
        {
            return ends;
        }

        _reader.Assign(pending.Select(p => new TopicPartitionOffset(topic, p, from[p])));
        var clock = Stopwatch.StartNew();
        try
        {
            while (pending.Count > 0)
            {
                if (clock.Elapsed > RestoreTimeout)
                {
                    throw new TimeoutException($"Reading {topic} partitions [{string.Join(",", pending)}] to their end took over {RestoreTimeout}.");
                }

                var record = _reader.Consume(TimeSpan.FromMilliseconds(200));
                if (record is null)
                {
                    continue;
                }

                var p = record.Partition.Value;
                if (record.IsPartitionEOF)
                {
                    pending.Remove(p);
                    continue;
                }

                onRecord(p, record);
                if (record.Offset.Value >= ends[p] - 1)
                {
                    pending.Remove(p);
                }
            }
        }
        finally
        {
            _reader.Unassign();
        }

        return ends;
    }

    public void Dispose()
    {
        _reader.Close();
        _reader.Dispose();
    }
}
