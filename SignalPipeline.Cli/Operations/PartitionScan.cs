using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;

namespace SignalPipeline.Cli.Operations;

/// <summary>Reading assigned partitions up to their current end (the consumer needs <c>enable.partition.eof</c>).</summary>
public static class PartitionScan
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Assigns <paramref name="starts"/> and hands each record to <paramref name="visit"/> until every partition is done:
    /// at its offset in <paramref name="ends"/> (a record there or later is not visited), or, for one not in it (or no
    /// <paramref name="ends"/>), at the end it has when the reading gets there; or until <paramref name="visit"/> returns
    /// false (what it looked for is found). Returns the offset each partition was done at (stopped by
    /// <paramref name="visit"/>: those done by then), so that a second reading can stop at the same records. For a topic
    /// of any size: it gives up only when <paramref name="noProgress"/> passes with neither a record nor the end of a
    /// partition (a cluster that stopped answering), as Kafka's console consumer's <c>--timeout-ms</c> does, never after
    /// a total time; time spent in <paramref name="visit"/> does not count. Stops between polls (every 100 ms at most) once
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (Ctrl+C).</exception>
    /// <exception cref="TimeoutException">Nothing came for <paramref name="noProgress"/>; the message names the partitions not done.</exception>
    public static Dictionary<int, long> ToEnds(IConsumer<byte[], byte[]> consumer, IReadOnlyCollection<TopicPartitionOffset> starts,
        IReadOnlyDictionary<int, long>? ends, TimeSpan noProgress, Func<ConsumeResult<byte[], byte[]>, bool> visit, CancellationToken cancellationToken = default)
    {
        consumer.Assign(starts);
        var open = starts.Select(s => s.Partition.Value).ToHashSet();
        var done = new Dictionary<int, long>();
        var quiet = Stopwatch.StartNew();
        while (open.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var record = consumer.Consume(PollInterval);
            if (record is null)
            {
                if (quiet.Elapsed > noProgress)
                {
                    throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                        $"reading {starts.First().Topic} made no progress for {noProgress.TotalSeconds:0.###} s: no record and no partition end " +
                        $"came (partitions not read to their end: {string.Join(", ", open.Order())})."));
                }

                continue;
            }

            var partition = record.Partition.Value;
            long? end = ends is not null && ends.TryGetValue(partition, out var fixedEnd) ? fixedEnd : null;
            if (!open.Contains(partition))
            {
                // Written after the partition was done, while others are still read: left for a later reading.
            }
            else if (record.IsPartitionEOF || record.Offset.Value >= end)
            {
                // The end-of-partition event's offset is the partition's end (read_committed: its last stable offset).
                open.Remove(partition);
                done[partition] = end ?? record.Offset.Value;
            }
            else
            {
                if (!visit(record))
                {
                    break;
                }

                if (record.Offset.Value + 1 >= end)
                {
                    open.Remove(partition);
                    done[partition] = end.Value;
                }
            }

            quiet.Restart();
        }

        return done;
    }
}
