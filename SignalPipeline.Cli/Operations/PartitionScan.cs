using Confluent.Kafka;

namespace SignalPipeline.Cli.Operations;

/// <summary>Reading assigned partitions up to their current end (the consumer needs <c>enable.partition.eof</c>).</summary>
public static class PartitionScan
{
    /// <summary>
    /// Assigns <paramref name="starts"/> and hands each record to <paramref name="visit"/> until every partition reached
    /// its end or <paramref name="visit"/> returns false. Returns false when <paramref name="timeout"/> came first.
    /// </summary>
    public static bool ToEnd(IConsumer<byte[], byte[]> consumer, IReadOnlyCollection<TopicPartitionOffset> starts, TimeSpan timeout,
        Func<ConsumeResult<byte[], byte[]>, bool> visit)
    {
        consumer.Assign(starts);
        var open = starts.Select(s => s.Partition.Value).ToHashSet();
        var deadline = DateTime.UtcNow + timeout;
        while (open.Count > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            var record = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (record is null)
            {
                continue;
            }

            if (record.IsPartitionEOF)
            {
                open.Remove(record.Partition.Value);
            }
            else if (!visit(record))
            {
                return true;
            }
        }

        return true;
    }
}
