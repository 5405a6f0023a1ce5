using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>
/// Confluent.Kafka's consumer over an <see cref="InMemoryKafkaCluster"/>: reading as <see cref="AssignedPartitions"/>
/// describes, group membership and rebalance handlers (run from inside <c>Consume</c>) as <see cref="GroupMembership"/>
/// does. <c>Dispose</c> without <c>Close</c> leaves like a killed process: the member's session expires at once
/// (Kafka: after session.timeout.ms). <c>GetWatermarkOffsets</c> answers like <c>QueryWatermarkOffsets</c> (librdkafka: cached
/// values of the last fetch). Not supported: OffsetsForTimes, SASL, the librdkafka <c>Handle</c>.
/// </summary>
internal sealed class InMemoryConsumer(
    InMemoryKafkaCluster cluster, string groupId, RebalanceHandlers? handlers, IsolationLevel isolation, bool partitionEof, string name, Action<Error>? onError = null)
    : IConsumer<byte[], byte[]>
{
    private readonly AssignedPartitions _assigned = new(cluster, groupId, isolation, partitionEof, name);
    private readonly Dictionary<TopicPartition, long> _stored = [];
    private readonly HashSet<string> _reportedMissing = new(StringComparer.Ordinal);
    private GroupMembership? _membership;
    private bool _closed;

    private object Gate => cluster.Gate;

    private ConsumerGroup Group => cluster.Group(groupId);

    // Built on first use: a primary constructor's initializers cannot pass 'this'.
    private GroupMembership Membership
        => LazyInitializer.EnsureInitialized(ref _membership, () => new GroupMembership(cluster, groupId, handlers, _assigned, this));

    public string Name => name;

    public Handle Handle => throw new NotSupportedException("The in-memory consumer has no librdkafka handle.");

    public string MemberId => Locked(() => Membership.MemberId);

    public List<TopicPartition> Assignment => Locked(() => _assigned.Partitions);

    public List<string> Subscription => Locked(() => Membership.Subscription);

    public IConsumerGroupMetadata ConsumerGroupMetadata => Locked(() => Membership.Metadata);

    /// <summary>Under the lock: whether a rebalance can proceed without this member's Revoked step.</summary>
    internal bool OwnsNothing => Membership.OwnsNothing;

    public ConsumeResult<byte[], byte[]> Consume(int millisecondsTimeout) => Poll(TimeSpan.FromMilliseconds(millisecondsTimeout), default)!;

    public ConsumeResult<byte[], byte[]> Consume(TimeSpan timeout) => Poll(timeout, default)!;

    public ConsumeResult<byte[], byte[]> Consume(CancellationToken cancellationToken = default) => Poll(Timeout.InfiniteTimeSpan, cancellationToken)!;

    public void Subscribe(string topic) => Subscribe([topic]);

    public void Subscribe(IEnumerable<string> topics) => Membership.Subscribe(topics);

    public void Unsubscribe() => Membership.Leave();

    public void Close()
    {
        Membership.Leave();
        Locked(() => _closed = true);
    }

    public void Dispose()
    {
        lock (Gate)
        {
            if (!_closed)
            {
                Membership.Expire();
                _closed = true;
                Monitor.PulseAll(Gate);
            }
        }
    }

    public void Assign(TopicPartition partition) => Assign([partition]);

    public void Assign(TopicPartitionOffset partition) => Assign([partition]);

    public void Assign(IEnumerable<TopicPartition> partitions) => Assign(partitions.Select(tp => new TopicPartitionOffset(tp, Offset.Unset)));

    public void Assign(IEnumerable<TopicPartitionOffset> partitions)
    {
        lock (Gate)
        {
            _assigned.Clear();
            AddLocked(partitions);
        }
    }

    public void IncrementalAssign(TopicPartition partition) => IncrementalAssign([partition]);

    public void IncrementalAssign(TopicPartitionOffset partition) => IncrementalAssign([partition]);

    public void IncrementalAssign(IEnumerable<TopicPartition> partitions) => IncrementalAssign(partitions.Select(tp => new TopicPartitionOffset(tp, Offset.Unset)));

    public void IncrementalAssign(IEnumerable<TopicPartitionOffset> partitions) => Locked(() => AddLocked(partitions));

    public void IncrementalUnassign(TopicPartition partition) => IncrementalUnassign([partition]);

    public void IncrementalUnassign(IEnumerable<TopicPartition> partitions) => ForEach(partitions, _assigned.Remove);

    public void Unassign() => Locked(() => _assigned.Clear());

    public void Seek(TopicPartitionOffset tpo) => ForEach([tpo.TopicPartition], _ => _assigned.Seek(tpo));

    public Offset Position(TopicPartition partition)
        => Locked(() => _assigned.Position(partition));

    public void Pause(IEnumerable<TopicPartition> partitions) => ForEach(partitions, tp => _assigned.SetPaused(tp, true));

    public void Resume(IEnumerable<TopicPartition> partitions) => ForEach(partitions, tp => _assigned.SetPaused(tp, false));

    public void StoreOffset(ConsumeResult<byte[], byte[]> result) => StoreOffset(new TopicPartitionOffset(result.TopicPartition, result.Offset + 1));

    public void StoreOffset(TopicPartitionOffset offset) => Locked(() => _stored[_assigned.Owned(offset.TopicPartition)] = offset.Offset.Value);

    public List<TopicPartitionOffset> Commit()
    {
        var stored = Locked(() => _stored.Select(kv => new TopicPartitionOffset(kv.Key, kv.Value)).ToList());
        Commit(stored);
        return stored;
    }

    public void Commit(ConsumeResult<byte[], byte[]> result) => Commit([new TopicPartitionOffset(result.TopicPartition, result.Offset + 1)]);

    public void Commit(IEnumerable<TopicPartitionOffset> offsets)
    {
        cluster.Faults.Hit(new FaultContext(FaultPoint.Commit, name, groupId, null));
        lock (Gate)
        {
            if (Membership.CommitError() is { } error)
            {
                throw new KafkaException(error);
            }

            foreach (var tpo in offsets)
            {
                Group.Committed[tpo.TopicPartition] = tpo.Offset.Value;
            }

            Monitor.PulseAll(Gate);
        }
    }

    public List<TopicPartitionOffset> Committed(TimeSpan timeout) => Committed(Assignment, timeout);

    /// <summary>Waits while a transaction holds offsets for one of the partitions (read_committed: require_stable).</summary>
    public List<TopicPartitionOffset> Committed(IEnumerable<TopicPartition> partitions, TimeSpan timeout)
    {
        var list = partitions.ToList();
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (Gate)
        {
            while (isolation == IsolationLevel.ReadCommitted && list.Any(tp => cluster.HasPendingOffsets(groupId, tp)))
            {
                var remaining = deadline - Environment.TickCount64;
                if (remaining <= 0)
                {
                    throw new KafkaException(new Error(ErrorCode.Local_TimedOut, "Committed offsets stayed unstable (a transaction holds them) until the timeout"));
                }

                Monitor.Wait(Gate, (int)Math.Min(remaining, int.MaxValue));
            }

            return [.. list.Select(tp => new TopicPartitionOffset(tp, Group.Committed.TryGetValue(tp, out var o) ? o : Offset.Unset))];
        }
    }

    public WatermarkOffsets GetWatermarkOffsets(TopicPartition topicPartition) => QueryWatermarkOffsets(topicPartition, TimeSpan.Zero);

    public WatermarkOffsets QueryWatermarkOffsets(TopicPartition topicPartition, TimeSpan timeout)
        => Locked(() => new WatermarkOffsets(cluster.LowWatermark(topicPartition), cluster.Log(topicPartition).Count));

    public List<TopicPartitionOffset> OffsetsForTimes(IEnumerable<TopicPartitionTimestamp> timestampsToSearch, TimeSpan timeout)
        => throw new NotSupportedException();

    public int AddBrokers(string brokers) => throw new NotSupportedException();

    public void SetSaslCredentials(string username, string password) => throw new NotSupportedException();

    /// <summary>Under the lock, from the cluster: the session timed out; the group goes on without this member.</summary>
    internal void Expire() => Membership.Expire();

    private ConsumeResult<byte[], byte[]>? Poll(TimeSpan timeout, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Locked(() => _closed), this);
        try
        {
            cluster.Faults.Hit(new FaultContext(FaultPoint.Consume, name, groupId, null));
        }
        catch (ErrorEventFault e)
        {
            (handlers?.Error ?? onError)?.Invoke(e.Error);
        }

        var deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        using var wake = cancellationToken.Register(() => Locked(() => Monitor.PulseAll(Gate)));
        while (true)
        {
            while (Locked(Membership.NextStep) is { } step)
            {
                step();
            }

            // Outside the lock, as the rebalance handlers: the error callback may call back into the consumer.
            if (Locked(() => Membership.Subscription.FirstOrDefault(t => cluster.PartitionCount(t) is null && _reportedMissing.Add(t))) is { } missing)
            {
                handlers?.Error?.Invoke(new Error(ErrorCode.UnknownTopicOrPart, $"{missing} [0]: topic does not exist (Broker: Unknown topic or partition)"));
                continue;
            }

            lock (Gate)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ObjectDisposedException.ThrowIf(_closed, this);
                if (Membership.StepPending)
                {
                    continue;
                }

                if (_assigned.Fetch() is { } result)
                {
                    return result;
                }

                var remaining = deadline - Environment.TickCount64;
                if (remaining <= 0)
                {
                    return null;
                }

                Monitor.Wait(Gate, (int)Math.Min(remaining, int.MaxValue));
            }
        }
    }

    private void AddLocked(IEnumerable<TopicPartitionOffset> partitions)
    {
        _assigned.Add(partitions);
        Monitor.PulseAll(Gate);
    }

    private T Locked<T>(Func<T> body)
    {
        lock (Gate)
        {
            return body();
        }
    }

    private void Locked(Action body)
    {
        lock (Gate)
        {
            body();
        }
    }

    private void ForEach(IEnumerable<TopicPartition> partitions, Action<TopicPartition> body)
    {
        lock (Gate)
        {
            foreach (var tp in partitions)
            {
                body(tp);
            }

            Monitor.PulseAll(Gate);
        }
    }
}
