using Confluent.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>
/// The <c>IConsumerGroupMetadata</c> an in-memory consumer hands out (librdkafka's is opaque): what the group
/// coordinator checks when a transaction commits offsets (KIP-447). Generation -1 with no member id is a consumer
/// outside the group (assign-only), which the coordinator does not check, as in Kafka.
/// </summary>
public sealed record InMemoryGroupMetadata(string GroupId, string MemberId, int Generation) : IConsumerGroupMetadata;

/// <summary>One member of a <see cref="ConsumerGroup"/>; its id sorts in join order (range assignment sorts by member id).</summary>
internal sealed class GroupMember(InMemoryConsumer consumer, string memberId, IReadOnlyList<string> topics)
{
    public InMemoryConsumer Consumer => consumer;
    public string MemberId => memberId;
    public IReadOnlyList<string> Topics => topics;
    public int Generation { get; set; } = -1;

    /// <summary>Has given up its partitions and joined the current rebalance.</summary>
    public bool Rejoined { get; set; } = true;

    /// <summary>Partitions of a completed rebalance that the member's next <c>Consume</c> hands to its Assigned handler.</summary>
    public List<TopicPartition>? Pending { get; set; }
}

/// <summary>
/// A consumer group as the broker's group coordinator keeps it, with the eager protocol and the range assignor:
/// a member joining, leaving or expiring starts a rebalance; every member that owns partitions must revoke them
/// (from its next <c>Consume</c>) and rejoin; when all have, the generation goes up and each gets its share.
/// Until then the old generation stays valid, so a member may still commit in its Revoked handler, as in Kafka.
/// Left out: static membership, cooperative rebalancing, rebalance timeouts (a member that never polls holds the
/// rebalance up; expire it with <see cref="InMemoryKafkaCluster.ExpireMember"/>, as Kafka would after max.poll.interval.ms).
/// All members are called under the cluster's lock.
/// </summary>
internal sealed class ConsumerGroup(string groupId, Func<string, int> partitionCount)
{
    private int _joins;

    public string GroupId => groupId;
    public int Generation { get; private set; }
    public bool Rebalancing { get; private set; }
    public List<GroupMember> Members { get; } = [];

    /// <summary>Committed offsets (the next offset to read) by partition.</summary>
    public Dictionary<TopicPartition, long> Committed { get; } = [];

    public GroupMember Join(InMemoryConsumer consumer, IReadOnlyList<string> topics)
    {
        StartRebalance();
        var member = new GroupMember(consumer, $"member-{++_joins:D6}-{consumer.Name}", topics);
        Members.Add(member);
        TryComplete();
        return member;
    }

    public void Leave(GroupMember member)
    {
        if (Members.Remove(member))
        {
            StartRebalance();
            TryComplete();
        }
    }

    public void Rejoin(GroupMember member)
    {
        member.Rejoined = true;
        TryComplete();
    }

    /// <summary>A subscribed topic's partitions changed (added, or the topic deleted): every member rebalances.</summary>
    public void Rebalance()
    {
        StartRebalance();
        TryComplete();
    }

    /// <summary>The group coordinator's check of an offset commit (regular or transactional); null when accepted.</summary>
    public Error? Validate(string memberId, int generation)
    {
        if (generation < 0 && memberId.Length == 0)
        {
            return null;
        }

        if (Members.All(m => m.MemberId != memberId))
        {
            return new Error(ErrorCode.UnknownMemberId, $"Member '{memberId}' is not in group '{groupId}' (left or session expired)");
        }

        return generation == Generation
            ? null
            : new Error(ErrorCode.IllegalGeneration, $"Generation {generation} of group '{groupId}' is stale: the group is at {Generation}");
    }

    private void StartRebalance()
    {
        Rebalancing = true;
        foreach (var member in Members)
        {
            // An assignment not yet handed over is simply replaced; a member owning nothing rejoins without a callback
            // (librdkafka does that on its own thread).
            member.Pending = null;
            member.Rejoined = member.Consumer.OwnsNothing;
        }
    }

    private void TryComplete()
    {
        if (!Rebalancing || Members.Any(m => !m.Rejoined))
        {
            return;
        }

        Rebalancing = false;
        Generation++;
        foreach (var member in Members)
        {
            member.Pending = [];
            member.Generation = Generation;
        }

        // Range assignor: per topic, members sorted by id, each a contiguous range, the first ones one extra.
        foreach (var topic in Members.SelectMany(m => m.Topics).Distinct())
        {
            var subscribers = Members.Where(m => m.Topics.Contains(topic)).OrderBy(m => m.MemberId, StringComparer.Ordinal).ToList();
            int partitions = partitionCount(topic), share = partitions / subscribers.Count, extra = partitions % subscribers.Count, next = 0;
            for (var i = 0; i < subscribers.Count; i++)
            {
                var take = share + (i < extra ? 1 : 0);
                subscribers[i].Pending!.AddRange(Enumerable.Range(next, take).Select(p => new TopicPartition(topic, p)));
                next += take;
            }
        }
    }
}
