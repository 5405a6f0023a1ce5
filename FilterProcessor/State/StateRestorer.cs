using System.Text;
using FilterProcessor.Kafka;

namespace FilterProcessor.State;

/// <summary>
/// Rebuilds assigned partitions' state from the changelog partition of the same number (Kafka Streams' restore): last
/// record per key wins, a tombstone removes a stream, the empty key is the partition checkpoint. A partition this
/// instance owned until the rebalance keeps its state and reads only what was written since. A corrupt record never
/// stops the restore: it is logged and counted, and that stream starts empty (or, for the partition checkpoint, the
/// position falls back to the group's committed offset).
/// </summary>
public sealed class StateRestorer(IKafkaSupplier kafka, ProcessorOptions options, ProcessorTelemetry telemetry, ILogger logger) : IDisposable
{
    private readonly Confluent.Kafka.IConsumer<byte[], byte[]> _consumer = kafka.GetRestoreConsumer(ProcessorOptions.ConsumerGroup + "-restore");

    private ChangelogReader Reader => new(_consumer, TimeSpan.FromSeconds(options.RestoreStallSeconds));

    /// <param name="partitions">The partitions to restore.</param>
    /// <param name="retained">State this instance still holds for some of them (read on from its changelog end).</param>
    /// <param name="committed">The group's committed input offsets (the fallback position).</param>
    /// <param name="outputPartition">Output partition of an input partition.</param>
    /// <param name="nowMs">The processor's clock: restored streams count as active now (for idle eviction).</param>
    public Dictionary<int, PartitionState> Restore(
        IReadOnlyCollection<int> partitions, IReadOnlyDictionary<int, PartitionState> retained, IReadOnlyDictionary<int, long> committed, Func<int, int> outputPartition, long nowMs)
    {
        var result = new Dictionary<int, PartitionState>();
        var records = new Dictionary<int, Dictionary<string, byte[]?>>();
        var from = new Dictionary<int, long>();
        foreach (var p in partitions)
        {
            records[p] = new(StringComparer.Ordinal);
            from[p] = retained.TryGetValue(p, out var kept) ? kept.ChangelogEnd : 0;
        }

        // Last record per key wins; decoded only once at the end, so superseded checkpoints cost no parsing.
        var marks = Reader.ReadToEnd(options.ChangelogTopic, from, (p, record) =>
        {
            if (record.Message.Key is { } key)
            {
                records[p][Encoding.UTF8.GetString(key)] = record.Message.Value;
            }
        });

        var scanFrom = new Dictionary<int, long>();
        foreach (var p in partitions)
        {
            var (low, high) = marks[p];
            if (low > from[p])
            {
                telemetry.ChangelogTruncated();
                logger.LogWarning(
                    "Changelog {Topic} [{Partition}] starts at offset {Low}, after {From}: records before it are gone (the dev broker keeps only the newest ~5 MiB of a partition; on a real cluster check that the topic is compacted, not deleted). Streams whose last checkpoint was there start from empty state.",
                    options.ChangelogTopic, p, low, from[p]);
            }

            var state = retained.TryGetValue(p, out var kept) ? kept : new PartitionState(p, committed.GetValueOrDefault(p, -1), 0);
            state.ChangelogEnd = Math.Max(from[p], high);
            scanFrom[p] = Apply(p, state, records[p], committed, nowMs);
            result[p] = state;
        }

        if (options.DevBrokerCompensation)
        {
            new OutputScan(Reader, options, logger).Apply(result, scanFrom, outputPartition);
        }

        return result;
    }

    /// <summary>Applies the partition's last records per key; returns where the dev-broker output scan starts.</summary>
    private long Apply(int p, PartitionState state, Dictionary<string, byte[]?> records, IReadOnlyDictionary<int, long> committed, long nowMs)
    {
        var scanFrom = state.OutputEnd;
        foreach (var (key, value) in records)
        {
            if (key == PartitionCheckpoint.Key)
            {
                try
                {
                    var checkpoint = PartitionCheckpoint.Deserialize(value);
                    state.NextInputOffset = checkpoint.NextInputOffset;
                    scanFrom = checkpoint.OutputScanFrom;
                }
                catch (FormatException e)
                {
                    telemetry.CorruptCheckpoint();
                    state.NextInputOffset = committed.GetValueOrDefault(p, -1);
                    logger.LogError("Changelog partition {Partition}: the partition checkpoint is corrupt ({Reason}); resuming from the group's committed offset {Offset}", p, e.Message, state.NextInputOffset);
                }

                continue;
            }

            if (state.TryGet(key, out var existing))
            {
                state.Remove(existing);
            }

            if (value is null)
            {
                continue;
            }

            try
            {
                var checkpoint = StreamCheckpoint.Deserialize(value, options.InputTopic);
                var stream = new StreamState(key, checkpoint.NextSeq, checkpoint.Held, checkpoint.FilterState).Committed();
                stream.HeldBytes = checkpoint.Held.Sum(h => (long)h.Value.Length);
                state.Add(stream, nowMs);
                if (checkpoint.Held.Count > 0)
                {
                    stream.HeldSinceMs = nowMs;
                    state.Holding.Add(stream);
                }
            }
            catch (FormatException e)
            {
                telemetry.CorruptCheckpoint();
                logger.LogError("Changelog partition {Partition}: the checkpoint of stream '{Stream}' is corrupt ({Reason}); the stream starts from empty state", p, key, e.Message);
            }
        }

        return scanFrom;
    }

    public void Dispose()
    {
        _consumer.Close();
        _consumer.Dispose();
    }
}
