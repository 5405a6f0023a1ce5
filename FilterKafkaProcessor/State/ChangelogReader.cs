using System.Diagnostics;
using Confluent.Kafka;

namespace FilterKafkaProcessor.State;

/// <summary>A restore that read nothing for <c>Processor:RestoreStallSeconds</c>: the partitions wait and it is tried again.</summary>
public sealed class RestoreStalledException(string message) : Exception(message);

/// <summary>
/// Reads partitions of one topic from given offsets to their end with an assign-only read_committed consumer. The end
/// is where the consumer reports partition EOF (for read_committed, the last stable offset). No overall time limit: a
/// large restore takes what it takes; only a read that makes no progress for <paramref name="stall"/> gives up, and a
/// refusal of the topic to the principal's ACLs that the consumer's error callback reported (<paramref name="refusals"/>)
/// is thrown at once.
/// </summary>
public sealed class ChangelogReader(IConsumer<byte[], byte[]> reader, TimeSpan stall, Kafka.RefusalWatch refusals)
{
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Reads each partition from its start; returns per partition its (low, high) watermarks as found first.</summary>
    public Dictionary<int, (long Low, long High)> ReadToEnd(string topic, IReadOnlyDictionary<int, long> from, Action<int, ConsumeResult<byte[], byte[]>> onRecord)
    {
        var marks = new Dictionary<int, (long Low, long High)>();
        var pending = new HashSet<int>();
        var starts = new List<TopicPartitionOffset>();
        foreach (var (p, start) in from)
        {
            var watermarks = reader.QueryWatermarkOffsets(new TopicPartition(topic, p), QueryTimeout);
            marks[p] = (watermarks.Low.Value, watermarks.High.Value);
            var first = Math.Max(start, watermarks.Low.Value);
            if (watermarks.High.Value > first)
            {
                pending.Add(p);
                starts.Add(new TopicPartitionOffset(topic, p, new Offset(first)));
            }
        }

        if (pending.Count == 0)
        {
            return marks;
        }

        reader.Assign(starts);
        var quiet = Stopwatch.StartNew();
        try
        {
            while (pending.Count > 0)
            {
                if (quiet.Elapsed > stall)
                {
                    throw new RestoreStalledException(
                        $"Reading {topic} partitions [{string.Join(",", pending.Order())}] made no progress for {stall.TotalSeconds:F0} s (Processor:RestoreStallSeconds).");
                }

                var record = reader.Consume(TimeSpan.FromMilliseconds(200));
                refusals.ThrowIfRefused();
                if (record is null)
                {
                    continue;
                }

                quiet.Restart();
                var p = record.Partition.Value;
                if (record.IsPartitionEOF)
                {
                    pending.Remove(p);
                    continue;
                }

                onRecord(p, record);
                if (record.Offset.Value >= marks[p].High - 1)
                {
                    pending.Remove(p);
                }
            }
        }
        finally
        {
            reader.Unassign();
        }

        return marks;
    }
}
