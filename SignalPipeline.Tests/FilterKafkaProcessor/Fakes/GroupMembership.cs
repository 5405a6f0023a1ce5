using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>
/// One in-memory consumer's membership of its <see cref="ConsumerGroup"/>, run as librdkafka runs it: the consumer
/// joins at <c>Subscribe</c> (librdkafka does on its own thread), and each rebalance step reaches the application from
/// inside <c>Consume</c>: Lost (session expired; the stale member id stays until the handler returns, then it rejoins
/// as a new member), Revoked (still a member of the old generation, so it may commit; then it rejoins), Assigned
/// (its returned offsets are where reading starts). Handlers run outside the cluster's lock. <see cref="Leave"/>
/// (Close, Unsubscribe) runs Revoked while still a member, then leaves. Members not saying otherwise are called under
/// the cluster's lock.
/// </summary>
internal sealed class GroupMembership(
    InMemoryKafkaCluster cluster, string groupId, RebalanceHandlers? handlers, AssignedPartitions assigned, InMemoryConsumer consumer)
{
    private static readonly Action Nothing = () => { };
    private List<string> _subscription = [];
    private GroupMember? _member;
    private bool _expired;
    private bool _assigning;

    private object Gate => cluster.Gate;

    private ConsumerGroup Group => cluster.Group(groupId);

    public List<string> Subscription => [.. _subscription];

    public string MemberId => _member?.MemberId ?? "";

    /// <summary>What librdkafka's consumer_group_metadata holds: the member id and generation as this client knows them.</summary>
    public InMemoryGroupMetadata Metadata => new(groupId, MemberId, _member?.Generation ?? -1);

    /// <summary>Whether a rebalance can proceed without this member's Revoked step.</summary>
    public bool OwnsNothing => assigned.Count == 0 && !_assigning;

    /// <summary>Whether <see cref="NextStep"/> has work for the next <c>Consume</c>.</summary>
    public bool StepPending
        => _subscription.Count > 0 && (_expired || _member is null || _member.Pending is not null || (Group.Rebalancing && !_member.Rejoined));

    /// <summary>The coordinator's answer to a plain offset commit by this consumer; null when accepted.</summary>
    public Error? CommitError()
        => _subscription.Count == 0 ? null
            : _expired || _member is null ? new Error(ErrorCode.UnknownMemberId, $"Member '{MemberId}' is not in group '{groupId}'")
            : Group.Validate(_member.MemberId, _member.Generation);

    /// <summary>Not under the lock (a previous subscription's Revoked handler runs).</summary>
    public void Subscribe(IEnumerable<string> topics)
    {
        Leave();
        lock (Gate)
        {
            _subscription = [.. topics];
            _member = Group.Join(consumer, _subscription);
            Monitor.PulseAll(Gate);
        }
    }

    /// <summary>Not under the lock: hands the partitions back (Revoked, or Lost if the session expired), then leaves.</summary>
    public void Leave()
    {
        Action? release = null;
        lock (Gate)
        {
            if (_member is not null)
            {
                release = Release(_expired ? handlers?.Lost : handlers?.Revoked);
            }
        }

        release?.Invoke();
        lock (Gate)
        {
            // The session may have expired while the handler ran; then the group has already let it go.
            if (_member is not null && !_expired)
            {
                Group.Leave(_member);
            }

            (_member, _expired, _subscription) = (null, false, []);
            Monitor.PulseAll(Gate);
        }
    }

    /// <summary>The session timed out: the group goes on without this member; the consumer learns at its next step.</summary>
    public void Expire()
    {
        if (_member is not null && !_expired)
        {
            Group.Leave(_member);
            _expired = true;
        }
    }

    /// <summary>The next rebalance step, to run outside the lock; null when there is none.</summary>
    public Action? NextStep()
    {
        if (_subscription.Count == 0)
        {
            return null;
        }

        if (_expired)
        {
            return Release(handlers?.Lost, () => (_expired, _member) = (false, null));
        }

        if (_member is null)
        {
            _member = Group.Join(consumer, _subscription);
            Monitor.PulseAll(Gate);
            return Nothing;
        }

        var member = _member;
        if (Group.Rebalancing && !member.Rejoined)
        {
            return Release(handlers?.Revoked, () => Group.Rejoin(member));
        }

        if (member.Pending is not { } partitions)
        {
            return null;
        }

        member.Pending = null;
        _assigning = true;
        return () =>
        {
            try
            {
                var start = handlers?.Assigned(partitions).ToList() ?? [.. partitions.Select(tp => new TopicPartitionOffset(tp, Offset.Unset))];
                lock (Gate)
                {
                    assigned.Add(start);
                    Monitor.PulseAll(Gate);
                }
            }
            finally
            {
                // A rebalance begun meanwhile takes these partitions back at the next step.
                lock (Gate)
                {
                    _assigning = false;
                }
            }
        };
    }

    /// <summary>A step that runs <paramref name="handler"/> on the partitions held, then gives them up and runs <paramref name="then"/>.</summary>
    private Action Release(Action<IReadOnlyList<TopicPartitionOffset>>? handler, Action? then = null)
    {
        var held = assigned.Partitions.Select(tp => new TopicPartitionOffset(tp, Offset.Unset)).ToList();
        return () =>
        {
            if (held.Count > 0)
            {
                handler?.Invoke(held);
            }

            lock (Gate)
            {
                assigned.Clear();
                then?.Invoke();
                Monitor.PulseAll(Gate);
            }
        };
    }
}
