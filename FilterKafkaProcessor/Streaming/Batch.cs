using Confluent.Kafka;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.Sequencing;
using FilterKafkaProcessor.State;

namespace FilterKafkaProcessor.Streaming;

/// <summary>One released chunk to filter and write: its stream, its record, and where its filtered samples go.</summary>
public sealed class ChunkWork(PartitionState partition, StreamState stream, ChunkEnvelope chunk, double[] output)
{
    public PartitionState Partition { get; } = partition;

    public StreamState Stream { get; } = stream;

    public ChunkEnvelope Chunk { get; } = chunk;

    /// <summary>From the stream thread's <see cref="OutputArrays"/>; <see cref="Batch.Clear"/> gives it back.</summary>
    public double[] Output { get; } = output;

    /// <summary>Set when the chunk turned out to be poison while filtering: it goes to the DLQ, not the output.</summary>
    public (string Code, string Reason)? Poison { get; set; }

    public FilterWork ToFilterWork()
    {
        var signal = Chunk.Decoded!.Signal;
        return new FilterWork(Stream.Filter, signal, Output.AsMemory(0, signal.Length));
    }
}

/// <summary>
/// Everything one transaction writes, built by the partition tasks: released chunks, dead letters, the streams whose
/// checkpoints changed, streams to evict, and per partition the last input offset read.
/// </summary>
public sealed class Batch(OutputArrays outputs)
{
    public List<ConsumeResult<byte[], byte[]>> Records { get; } = [];

    /// <summary>The decodes of the first records, made while the previous batch's commit ran (see <see cref="StreamThread"/>).</summary>
    public List<DecodedRecord> Decoded { get; } = [];

    public List<ChunkWork> Work { get; } = [];

    public List<DeadLetter> DeadLetters { get; } = [];

    /// <summary>Streams changed in this transaction (checkpointed before commit; rolled back on abort).</summary>
    public HashSet<StreamState> Touched { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Streams idle past <c>StreamIdleSeconds</c>: tombstoned in this transaction, dropped after its commit.</summary>
    public List<(PartitionState Partition, StreamState Stream)> Evicted { get; } = [];

    /// <summary>Per partition, the last input offset this transaction covers.</summary>
    public Dictionary<int, long> LastOffsets { get; } = [];

    /// <summary>The input partitions this transaction covers, in order, comma-separated (for log lines).</summary>
    public string PartitionList => string.Join(",", LastOffsets.Keys.Order());

    public SequenceCounters Counters;

    /// <summary>Chunks filtered again but not written: their output is already in the output topic (dev broker).</summary>
    public int Replayed;

    /// <summary>
    /// Streams whose held chunks the batch's maintenance released (held timeout, or past a bound after a restore), across
    /// partitions: at most <c>Processor:MaxBatchRecords</c>, the rest wait for the next batch (<see cref="PartitionTask.Maintain"/>).
    /// </summary>
    public int ReleasedStreams;

    /// <summary>What the records take, by <see cref="RecordBytes"/>: bounded by <c>Processor:MaxBatchBytes</c>.</summary>
    public long InputBytes { get; set; }

    /// <summary>
    /// A consumed record's key, value and headers (keys and values), in bytes. A producer can put up to the broker's
    /// message limit in any of the three, so all count toward the batch's bound, not only the value.
    /// </summary>
    public static long RecordBytes(ConsumeResult<byte[], byte[]> record)
    {
        var message = record.Message;
        long bytes = (message.Key?.Length ?? 0) + (message.Value?.Length ?? 0);
        if (message.Headers is { } headers)
        {
            for (var i = 0; i < headers.Count; i++)
            {
                var header = headers[i];
                bytes += header.Key.Length + (header.GetValueBytes()?.Length ?? 0);
            }
        }

        return bytes;
    }

    /// <summary>Nothing to write: no record of an owned partition, no stream changed, none evicted.</summary>
    public bool IsEmpty => LastOffsets.Count == 0 && Touched.Count == 0 && Evicted.Count == 0;

    public double[] RentOutput(int length) => outputs.Rent(length);

    /// <summary>Drops the records (and their decodes) of the partitions <paramref name="drop"/> names: they will be read again.</summary>
    public void RemoveRecords(Func<int, bool> drop)
    {
        var (kept, keptDecoded) = (0, 0);
        for (var i = 0; i < Records.Count; i++)
        {
            var record = Records[i];
            if (drop(record.Partition.Value))
            {
                InputBytes -= RecordBytes(record);
                continue;
            }

            if (i < Decoded.Count)
            {
                Decoded[keptDecoded++] = Decoded[i];
            }

            Records[kept++] = record;
        }

        Decoded.RemoveRange(keptDecoded, Decoded.Count - keptDecoded);
        Records.RemoveRange(kept, Records.Count - kept);
    }

    public void Clear()
    {
        foreach (var work in Work)
        {
            outputs.Return(work.Output);
        }

        Records.Clear();
        Decoded.Clear();
        Work.Clear();
        DeadLetters.Clear();
        Touched.Clear();
        Evicted.Clear();
        LastOffsets.Clear();
        Counters = default;
        Replayed = 0;
        ReleasedStreams = 0;
        InputBytes = 0;
    }
}
