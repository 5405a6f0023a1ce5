using Confluent.Kafka;
using FilterProcessor.Kafka;

namespace SignalPipeline.Tests.FilterProcessor.Fakes;

/// <summary>
/// Confluent.Kafka's consumer over an <see cref="InMemoryKafkaCluster"/>. A subscribing consumer joins its group at
/// <c>Subscribe</c> and runs its rebalance handlers from inside <c>Consume</c>, on the calling thread, as librdkafka
/// does: Lost (session expired), Revoked (then it rejoins), Assigned (whose returned offsets it starts from:
/// Unset = the committed offset, else earliest; Beginning; End; or an offset). Records come one at a time, rotating over
/// the assigned partitions; read_committed stops at the LSO and skips aborted and control records. <c>Position</c> is
/// one past the last record returned (or where the partition EOF was reported). <c>Dispose</c> without <c>Close</c>
/// leaves like a killed process: the member's session expires at once (Kafka: after session.timeout.ms).
/// Not supported: OffsetsForTimes, SASL/OAuth, the librdkafka <c>Handle</c>.
/// </summary>
internal sealed class InMemoryConsumer(
    InMemoryKafkaCluster cluster, string groupId, RebalanceHandlers? handlers, IsolationLevel isolation, bool partitionEof, string name)
    : IConsumer<byte[], byte[]>
{
    private static readonly Action Nothing = () => { };
    private readonly Dictionary<TopicPartition, Cursor> _assignment = [];
    private readonly Dictionary<TopicPartition, long> _stored = [];
    private List<string> _subscription = [];
    private GroupMember? _member;
    private bool _expired;
    private bool _assigning;
    private bool _closed;
    private int _rotation;

    private object Gate => cluster.Gate;

    private ConsumerGroup Group => cluster.Group(groupId);

    public string Name => name;

    public Handle Handle => throw new NotSupportedException("The in-memory consumer has no librdkafka handle.");

    public string MemberId => Locked(() => _member?.MemberId ?? "");

    public List<TopicPartition> Assignment => Locked(() => _assignment.Keys.ToList());

    public List<string> Subscription => Locked(() => _subscription.ToList());

    public IConsumerGroupMetadata ConsumerGroupMetadata
        => Locked(() => new InMemoryGroupMetadata(groupId, _member?.MemberId ?? "", _member?.Generation ?? -1));

    /// <summary>Under the lock: whether a rebalance can proceed without this member's callback.</summary>
    internal bool OwnsNothing => _assignment.Count == 0 && !_assigning;

    public ConsumeResult<byte[], byte[]> Consume(int millisecondsTimeout) => Poll(TimeSpan.FromMilliseconds(millisecondsTimeout), default)!;

    public ConsumeResult<byte[], byte[]> Consume(TimeSpan timeout) => Poll(timeout, default)!;

    public ConsumeResult<byte[], byte[]> Consume(CancellationToken cancellationToken = default) => Poll(Timeout.InfiniteTimeSpan, cancellationToken)!;

    public void Subscribe(string topic) => Subscribe([topic]);

    public void Subscribe(IEnumerable<string> topics)
    {
        Unsubscribe();
        lock (Gate)
        {
            // librdkafka joins on its own thread; the Assigned handler waits for the next Consume.
            _subscription = [.. topics];
            _member = Group.Join(this, _subscription);
            Monitor.PulseAll(Gate);
        }
    }

    public void Unsubscribe() => Leave();

    public void Close()
    {
        Leave();
        Locked(() => _closed = true);
    }

    public void Dispose()
    {
        lock (Gate)
        {
            if (!_closed)
            {
                Expire();
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
            _assignment.Clear();
            AddLocked(partitions);
        }
    }

    public void IncrementalAssign(TopicPartition partition) => IncrementalAssign([partition]);

    public void IncrementalAssign(TopicPartitionOffset partition) => IncrementalAssign([partition]);

    public void IncrementalAssign(IEnumerable<TopicPartition> partitions) => IncrementalAssign(partitions.Select(tp => new TopicPartitionOffset(tp, Offset.Unset)));

    public void IncrementalAssign(IEnumerable<TopicPartitionOffset> partitions) => Locked(() => AddLocked(partitions));

    public void IncrementalUnassign(TopicPartition partition) => IncrementalUnassign([partition]);

    public void IncrementalUnassign(IEnumerable<TopicPartition> partitions) => ForEach(partitions, tp => _assignment.Remove(tp));

    public void Unassign() => Locked(() => _assignment.Clear());

    public void Seek(TopicPartitionOffset tpo) => ForEach([tpo.TopicPartition], tp => (_assignment[Owned(tp)].Start, _assignment[tp].EofAt) = (tpo.Offset, -1));

    public Offset Position(TopicPartition partition)
        => Locked(() => _assignment.TryGetValue(partition, out var c) && Resolve(partition, c) ? new Offset(c.Returned) : Offset.Unset);

    public void Pause(IEnumerable<TopicPartition> partitions) => ForEach(partitions, tp => _assignment[Owned(tp)].Paused = true);

    public void Resume(IEnumerable<TopicPartition> partitions) => ForEach(partitions, tp => _assignment[Owned(tp)].Paused = false);

    public void StoreOffset(ConsumeResult<byte[], byte[]> result) => StoreOffset(new TopicPartitionOffset(result.TopicPartition, result.Offset + 1));

    public void StoreOffset(TopicPartitionOffset offset) => Locked(() => _stored[Owned(offset.TopicPartition)] = offset.Offset.Value);

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
            if (_subscription.Count > 0
                && (_expired || _member is null ? new Error(ErrorCode.UnknownMemberId) : Group.Validate(_member.MemberId, _member.Generation)) is { } error)
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
        => Locked(() => new WatermarkOffsets(0, cluster.Log(topicPartition).Count));

    public List<TopicPartitionOffset> OffsetsForTimes(IEnumerable<TopicPartitionTimestamp> timestampsToSearch, TimeSpan timeout)
        => throw new NotSupportedException();

    public int AddBrokers(string brokers) => throw new NotSupportedException();

    public void SetSaslCredentials(string username, string password) => throw new NotSupportedException();

    /// <summary>Under the lock, from the cluster: the session timed out; the group goes on without this member.</summary>
    internal void Expire()
    {
        if (_member is not null && !_expired)
        {
            Group.Leave(_member);
            _expired = true;
        }
    }

    private ConsumeResult<byte[], byte[]>? Poll(TimeSpan timeout, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Locked(() => _closed), this);
        cluster.Faults.Hit(new FaultContext(FaultPoint.Consume, name, groupId, null));
        var deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        using var wake = cancellationToken.Register(() => Locked(() => Monitor.PulseAll(Gate)));
        while (true)
        {
            while (Locked(NextGroupStep) is { } step)
            {
                step();
            }

            lock (Gate)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (NextGroupStepPending())
                {
                    continue;
                }

                if (Fetch() is { } result)
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

    private bool NextGroupStepPending()
        => _subscription.Count > 0 && (_expired || _member is null || _member.Pending is not null || (Group.Rebalancing && !_member.Rejoined));

    /// <summary>Under the lock: the next rebalance step of this member, whose handler runs outside the lock; null when none.</summary>
    private Action? NextGroupStep()
    {
        if (_subscription.Count == 0 || _closed)
        {
            return null;
        }

        if (_expired)
        {
            _expired = false;
            _member = null;
            var lost = Take();
            return lost.Count == 0 ? Nothing : () => handlers?.Lost(lost);
        }

        if (_member is null)
        {
            _member = Group.Join(this, _subscription);
            Monitor.PulseAll(Gate);
            return Nothing;
        }

        var member = _member;
        if (Group.Rebalancing && !member.Rejoined)
        {
            // Revoked runs while the old generation is still valid: the member may commit in it, as in Kafka.
            var revoked = _assignment.Keys.Select(tp => new TopicPartitionOffset(tp, Offset.Unset)).ToList();
            return () =>
            {
                handlers?.Revoked(revoked);
                Locked(() =>
                {
                    _assignment.Clear();
                    Group.Rejoin(member);
                    Monitor.PulseAll(Gate);
                });
            };
        }

        if (member.Pending is not { } assigned)
        {
            return null;
        }

        member.Pending = null;
        _assigning = true;
        return () =>
        {
            try
            {
                var start = handlers?.Assigned(assigned).ToList() ?? [.. assigned.Select(tp => new TopicPartitionOffset(tp, Offset.Unset))];
                Locked(() => AddLocked(start));
            }
            finally
            {
                // A rebalance begun meanwhile takes these partitions back at the next step.
                Locked(() => _assigning = false);
            }
        };
    }

    private List<TopicPartitionOffset> Take()
    {
        var taken = _assignment.Keys.Select(tp => new TopicPartitionOffset(tp, Offset.Unset)).ToList();
        _assignment.Clear();
        return taken;
    }

    private void Leave()
    {
        List<TopicPartitionOffset> owned;
        bool lost;
        lock (Gate)
        {
            if (_member is null || _closed)
            {
                _subscription = [];
                return;
            }

            (owned, lost) = (Take(), _expired);
            if (!_expired)
            {
                Group.Leave(_member);
            }

            (_member, _expired, _subscription) = (null, false, []);
            Monitor.PulseAll(Gate);
        }

        if (owned.Count > 0)
        {
            (lost ? handlers?.Lost : handlers?.Revoked)?.Invoke(owned);
        }

    }

    private void AddLocked(IEnumerable<TopicPartitionOffset> partitions)
    {
        foreach (var tpo in partitions)
        {
            cluster.Log(tpo.TopicPartition);
            _assignment[tpo.TopicPartition] = new Cursor { Start = tpo.Offset };
        }

        Monitor.PulseAll(Gate);
    }

    private ConsumeResult<byte[], byte[]>? Fetch()
    {
        var partitions = _assignment.Keys.ToList();
        for (var i = 0; i < partitions.Count; i++)
        {
            var tp = partitions[(_rotation + i) % partitions.Count];
            var cursor = _assignment[tp];
            if (cursor.Paused || !Resolve(tp, cursor))
            {
                continue;
            }

            var log = cluster.Log(tp);
            var end = cluster.EndOffset(tp, isolation);
            while (cursor.Next < end && !InMemoryKafkaCluster.Visible(log[(int)cursor.Next], isolation))
            {
                cursor.Next++;
            }

            if (cursor.Next < end)
            {
                _rotation = (_rotation + i + 1) % partitions.Count;
                cursor.Returned = cursor.Next + 1;
                return log[(int)cursor.Next++].ToResult(tp);
            }

            if (partitionEof && cursor.EofAt != cursor.Next)
            {
                cursor.EofAt = cursor.Returned = cursor.Next;
                return new ConsumeResult<byte[], byte[]> { TopicPartitionOffset = new TopicPartitionOffset(tp, cursor.Next), IsPartitionEOF = true };
            }
        }

        return null;
    }

    /// <summary>Turns a logical start offset into a position; false while the committed offset is unstable (KIP-447).</summary>
    private bool Resolve(TopicPartition tp, Cursor cursor)
    {
        if (cursor.Start is not { } start)
        {
            return true;
        }

        long position;
        if (start == Offset.Beginning)
        {
            position = 0;
        }
        else if (start == Offset.End)
        {
            position = cluster.EndOffset(tp, isolation);
        }
        else if (!start.IsSpecial)
        {
            // Out of range: auto.offset.reset=earliest, as the processor's consumers are configured.
            position = start.Value <= cluster.Log(tp).Count ? start.Value : 0;
        }
        else if (isolation == IsolationLevel.ReadCommitted && cluster.HasPendingOffsets(groupId, tp))
        {
            return false;
        }
        else
        {
            position = Group.Committed.TryGetValue(tp, out var committed) ? committed : 0;
        }

        (cursor.Start, cursor.Next, cursor.Returned) = (null, position, position);
        return true;
    }

    private TopicPartition Owned(TopicPartition tp)
        => _assignment.ContainsKey(tp) ? tp : throw new KafkaException(new Error(ErrorCode.Local_State, $"{tp} is not assigned to {name}"));

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

    private sealed class Cursor
    {
        /// <summary>A start offset not resolved yet (special values, or Unset waiting for stable offsets).</summary>
        public Offset? Start { get; set; }

        /// <summary>The fetch position: the next offset to look at.</summary>
        public long Next { get; set; }

        /// <summary>What <c>Position</c> reports: one past the last record returned.</summary>
        public long Returned { get; set; }

        public long EofAt { get; set; } = -1;

        public bool Paused { get; set; }
    }
}
