using System.Buffers.Binary;
using Confluent.Kafka;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Operations;

/// <summary>Where the processor is in one input partition, from both places it keeps its position.</summary>
/// <param name="Partition">The input partition.</param>
/// <param name="Start">The partition's oldest kept offset.</param>
/// <param name="End">The partition's end (high watermark).</param>
/// <param name="Committed">The group's committed offset (sent with each transaction; a real cluster stores it), or null.</param>
/// <param name="Checkpoint">The next input offset in the changelog's partition checkpoint (what a restore resumes from), or null.</param>
public sealed record PartitionPosition(int Partition, long Start, long End, long? Committed, long? Checkpoint)
{
    /// <summary>The changelog checkpoint when there is one (the processor restores from it), else the group's offset.</summary>
    public long? Position => Checkpoint ?? Committed;

    public string Source => Checkpoint is not null ? "changelog" : Committed is not null ? "group" : "none";

    /// <summary>Records not yet processed; with no position at all, everything kept.</summary>
    public long Lag => Math.Max(0, End - Math.Max(Position ?? Start, Start));
}

/// <summary>
/// Reads the processor's position per input partition: the group's committed offsets (OffsetFetch) and the partition
/// checkpoints in its changelog. A partition checkpoint is the newest record with an empty key in changelog partition p;
/// its value starts with a version byte and the next input offset as a little-endian int64 (a layout kept stable
/// across versions, FilterKafkaProcessor/State/StreamCheckpoint.cs).
/// </summary>
public static class ProcessorPosition
{
    /// <param name="noProgress">
    /// How long the cluster may answer nothing: each request's timeout, and the changelog reading's no-progress limit (it
    /// goes on while records or partition ends come, however long it takes in total: <see cref="PartitionScan.ToEnds"/>).
    /// </param>
    /// <param name="cancellationToken">Ctrl+C: looked at between the requests and while the changelog is read.</param>
    public static List<PartitionPosition> Read(KafkaClientFactory factory, string inputTopic, string changelogTopic, string group, TimeSpan noProgress,
        CancellationToken cancellationToken = default)
    {
        var partitions = KafkaConnection.TopicPartitions(factory, inputTopic, noProgress);
        cancellationToken.ThrowIfCancellationRequested();
        using var consumer = factory.CreateConsumer<byte[], byte[]>(group, config =>
        {
            // Only asks for the group's offsets: never joins the group, never commits.
            config.EnableAutoCommit = false;
            config.EnablePartitionEof = true;
        });
        var committed = consumer.Committed(partitions, noProgress).ToDictionary(p => p.Partition.Value, p => p.Offset);
        cancellationToken.ThrowIfCancellationRequested();
        var checkpoints = ReadCheckpoints(factory, changelogTopic, noProgress, cancellationToken);
        return [.. partitions.Select(p =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var watermarks = consumer.QueryWatermarkOffsets(p, noProgress);
            var offset = committed.GetValueOrDefault(p.Partition.Value, Offset.Unset);
            return new PartitionPosition(p.Partition.Value, watermarks.Low.Value, watermarks.High.Value,
                offset.IsSpecial ? null : offset.Value, checkpoints.TryGetValue(p.Partition.Value, out var next) ? next : null);
        })];
    }

    /// <summary>Changelog partition -> next input offset of its newest partition checkpoint (a tombstone clears it).</summary>
    /// <exception cref="TimeoutException">Nothing came for <paramref name="noProgress"/>.</exception>
    public static Dictionary<int, long> ReadCheckpoints(KafkaClientFactory factory, string changelogTopic, TimeSpan noProgress,
        CancellationToken cancellationToken = default)
    {
        var partitions = KafkaConnection.TopicPartitions(factory, changelogTopic, noProgress);
        cancellationToken.ThrowIfCancellationRequested();
        using var consumer = factory.CreateConsumer<byte[], byte[]>($"signal-pipeline-cli-{Guid.NewGuid():N}", config =>
        {
            config.EnableAutoCommit = false;
            config.EnablePartitionEof = true;
            // The processor writes it in transactions: read only what they committed.
            config.IsolationLevel = IsolationLevel.ReadCommitted;
        });
        var result = new Dictionary<int, long>();
        PartitionScan.ToEnds(consumer, [.. partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning))], null, noProgress, record =>
        {
            if (record.Message.Key is { Length: > 0 })
            {
                return true; // a stream's checkpoint
            }

            if (record.Message.Value is { Length: >= 9 } value)
            {
                result[record.Partition.Value] = BinaryPrimitives.ReadInt64LittleEndian(value.AsSpan(1, 8));
            }
            else
            {
                result.Remove(record.Partition.Value);
            }

            return true;
        }, cancellationToken);
        return result;
    }
}
