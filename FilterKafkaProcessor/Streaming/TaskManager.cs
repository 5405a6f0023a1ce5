using System.Diagnostics;
using Confluent.Kafka;
using FilterKafkaProcessor.State;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// The partitions this instance owns (Kafka Streams' TaskManager): the group's assignments and revocations, the restore
/// of newly assigned partitions (outside the rebalance callback, with those partitions paused meanwhile), and the state
/// kept from a revocation for partitions that come straight back.
/// </summary>
public sealed class TaskManager(ProcessorOptions options, TaskContext context, StateRestorer restorer, ProcessorTelemetry telemetry, TimeProvider time, ILogger logger)
{
    private readonly Dictionary<int, PartitionState> _retained = [];
    private readonly SortedSet<int> _restoring = [];
    private long _restoringSinceMs;

    public Dictionary<int, PartitionTask> Tasks { get; } = [];

    /// <summary>Since when partitions wait for their restore (null when none does), for the health check.</summary>
    public long? RestoringSinceMs => _restoring.Count > 0 ? _restoringSinceMs : null;

    /// <summary>The highest partition waiting for its restore, or null.</summary>
    public int? HighestRestoring => _restoring.Count > 0 ? _restoring.Max : null;

    /// <summary>Whether <paramref name="partition"/> waits for its restore (its position is set when the restore ends).</summary>
    public bool IsRestoring(int partition) => _restoring.Contains(partition);

    public IEnumerable<TopicPartitionOffset> OnAssigned(IReadOnlyList<TopicPartition> assigned)
    {
        // State kept from a revocation is reused only for partitions that came back in this assignment.
        foreach (var p in _retained.Keys.Where(p => assigned.All(a => a.Partition.Value != p)).ToList())
        {
            _retained.Remove(p);
        }

        foreach (var tp in assigned)
        {
            _restoring.Add(tp.Partition.Value);
        }

        _restoringSinceMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        logger.LogInformation("Assigned partitions [{Partitions}]: restoring", string.Join(",", assigned.Select(a => a.Partition.Value).Order()));
        return assigned.Select(tp => new TopicPartitionOffset(tp, Offset.Unset));
    }

    /// <summary>
    /// The instance's counts from its partitions, streams (for <c>Processor:MaxStreams</c>, <c>MaxStreamBytes</c> and the gauges) and held bytes
    /// (after a rollback, a restore or a revocation).
    /// </summary>
    public void Recount()
    {
        context.HeldBytes = Tasks.Values.Sum(t => t.State.Holding.Sum(s => s.HeldBytes));
        CountAfterCommit();
    }

    /// <summary>
    /// After a commit: the stream count and bytes again (evictions, filter states' sizes), and the held bytes as the partition tasks kept them, exact
    /// since no rollback came between; walking every holding stream on each commit would cost per transaction what a
    /// producer keeping many streams out of order chooses.
    /// </summary>
    public void CountAfterCommit()
    {
        context.StreamCount = Tasks.Values.Sum(t => t.State.Count);
        context.StreamBytes = Tasks.Values.Sum(t => t.State.Bytes);
        telemetry.StreamsHeld(context.StreamCount, context.StreamBytes);
        telemetry.Held(context.HeldBytes);
    }

    /// <summary>Every owned partition is restored again from the changelog, from the start (its state here may be ahead).</summary>
    public void RestoreAll()
    {
        foreach (var p in Tasks.Keys)
        {
            _restoring.Add(p);
        }

        Tasks.Clear();
        _retained.Clear();
        context.StreamCount = 0;
        context.StreamBytes = 0;
        context.HeldBytes = 0;
        telemetry.StreamsHeld(0, 0);
        _restoringSinceMs = time.GetUtcNow().ToUnixTimeMilliseconds();
    }

    /// <summary>Partitions revoked or lost: their tasks end; their state is kept in case they come straight back.</summary>
    public void OnRevoked(IReadOnlyList<TopicPartitionOffset> revoked, string why)
    {
        foreach (var tpo in revoked)
        {
            var p = tpo.Partition.Value;
            _restoring.Remove(p);
            if (Tasks.Remove(p, out var task))
            {
                _retained[p] = task.State;
            }
        }

        Recount();
        logger.LogInformation("Partitions [{Partitions}] {Why}", string.Join(",", revoked.Select(r => r.Partition.Value).Order()), why);
    }

    /// <summary>Restores the partitions waiting for it; on failure (false) they stay paused and the restore is tried again later.</summary>
    public bool RestorePending(IConsumer<byte[], byte[]> consumer, Func<int, int> outputPartition, CancellationToken stoppingToken)
    {
        if (_restoring.Count == 0)
        {
            return true;
        }

        var partitions = _restoring.ToList();
        var topicPartitions = partitions.Select(p => new TopicPartition(options.InputTopic, p)).ToList();
        var clock = Stopwatch.StartNew();
        try
        {
            consumer.Pause(topicPartitions);

            // KIP-447: a read_committed consumer's committed offsets wait while an earlier owner's transaction that sent
            // offsets for these partitions is open, so its changelog records are committed or aborted before we read.
            var committed = consumer.Committed(topicPartitions, TimeSpan.FromSeconds(options.RestoreStallSeconds))
                .Where(c => c.Offset.Value >= 0).ToDictionary(c => c.Partition.Value, c => c.Offset.Value);
            var restored = restorer.Restore(partitions, _retained, committed, outputPartition, time.GetUtcNow().ToUnixTimeMilliseconds(),
                heldElsewhere: Tasks.Values.Sum(t => t.State.Count), streamBytesElsewhere: Tasks.Values.Sum(t => t.State.Bytes), heldBytesElsewhere: Tasks.Values.Sum(t => t.State.Holding.Sum(s => s.HeldBytes)),
                maxStreamHeldBytes: context.Limits.MaxHeldBytes);
            foreach (var (p, state) in restored)
            {
                _retained.Remove(p);
                Tasks[p] = new PartitionTask(state, context);
                Seek(consumer, p, state.NextInputOffset);
            }

            _restoring.Clear();
            Recount();
            consumer.Resume(topicPartitions);
            telemetry.Restored(clock.Elapsed, restored.Count);
            logger.LogInformation(
                "Assigned partitions [{Partitions}]: restored {Streams} streams in {Milliseconds} ms; resuming at {Offsets}",
                string.Join(",", partitions), restored.Values.Sum(s => s.Count), clock.ElapsedMilliseconds,
                string.Join(", ", restored.Values.OrderBy(s => s.Partition).Select(s => $"{s.Partition}@{(s.NextInputOffset < 0 ? "beginning" : s.NextInputOffset)}")));
            return true;
        }
        catch (Exception e) when (e is KafkaException { Error.Code: var code } ? !KafkaAccess.IsRefusal(code) : e is RestoreStalledException)
        {
            // An ACL's refusal (READ on the changelog, the group's committed offsets) is the stream thread's to stop on.
            telemetry.RestoreFailed();
            logger.LogError(e, "Restoring partitions [{Partitions}] failed; they wait and the restore is tried again", string.Join(",", partitions));
            stoppingToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(1000, options.MaxRetryBackoffMs)));
            return false;
        }
    }

    /// <summary>Moves the consumer of an owned partition to <paramref name="offset"/> (negative: the beginning).</summary>
    public void Seek(IConsumer<byte[], byte[]> consumer, int partition, long offset)
    {
        try
        {
            consumer.Seek(new TopicPartitionOffset(options.InputTopic, partition, offset < 0 ? Offset.Beginning : new Offset(offset)));
        }
        catch (KafkaException e)
        {
            // Not assigned any more (a rebalance took it): the next owner starts from the checkpoint anyway.
            logger.LogDebug(e, "Seek of partition {Partition} skipped", partition);
        }
    }
}
