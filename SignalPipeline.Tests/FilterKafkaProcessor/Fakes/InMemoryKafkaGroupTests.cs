using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;
using static SignalPipeline.Tests.FilterKafkaProcessor.Fakes.InMemoryKafkaTests;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>The fake cluster's consumer groups: rebalances, their callbacks, and the fencing of stale members (KIP-447).</summary>
public sealed class InMemoryKafkaGroupTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly InMemoryKafkaCluster _cluster = new();
    private readonly List<string> _events = [];

    public InMemoryKafkaGroupTests()
    {
        _cluster.CreateTopic("in", 4);
        _cluster.CreateTopic("out", 1);
    }

    [Fact]
    public void JoinLeaveAndExpireRebalanceWithCallbacksFromInsideConsume()
    {
        var a = Member("a");
        Assert.Null(a.Consume(TimeSpan.Zero));
        Assert.Equal(["a assigned 0,1,2,3"], Events());

        var b = Member("b");
        Assert.Empty(Events());
        Assert.Null(a.Consume(TimeSpan.Zero));
        Assert.Null(b.Consume(TimeSpan.Zero));
        Assert.Equal(["a revoked 0,1,2,3", "a assigned 0,1", "b assigned 2,3"], Events());
        Assert.Equal(2, _cluster.Generation("g"));

        b.Close();
        Assert.Null(a.Consume(TimeSpan.Zero));
        Assert.Equal(["b revoked 2,3", "a revoked 0,1", "a assigned 0,1,2,3"], Events());

        var c = Member("c");
        Assert.Null(a.Consume(TimeSpan.Zero));
        Assert.Null(c.Consume(TimeSpan.Zero));
        Assert.Equal(["a revoked 0,1,2,3", "a assigned 0,1", "c assigned 2,3"], Events());

        // a's session expires: the group goes on without it; when a polls again it learns, and rejoins.
        _cluster.ExpireMember(a);
        Assert.Null(c.Consume(TimeSpan.Zero));
        Assert.Equal(["c revoked 2,3", "c assigned 0,1,2,3"], Events());
        Assert.Null(a.Consume(TimeSpan.Zero));
        Assert.Null(c.Consume(TimeSpan.Zero));
        Assert.Null(a.Consume(TimeSpan.Zero));
        Assert.Equal(["a lost 0,1", "c revoked 0,1,2,3", "c assigned 0,1", "a assigned 2,3"], Events());
        Assert.Equal([c, a], _cluster.Members("g"));
    }

    [Fact]
    public async Task ABlockedConsumeServesRebalancesAndWakesForNewRecords()
    {
        var a = Member("a");
        using var stop = new CancellationTokenSource(Timeout);
        var aReads = Task.Run(() => a.Consume(stop.Token));
        var b = Member("b");
        _cluster.Produce("in", 3, null, Bytes("for b"));
        _cluster.Produce("in", 0, null, Bytes("for a"));

        // b's first poll waits until a, blocked in Consume on another thread, has revoked and rejoined.
        Assert.Equal("for b", Value(b.Consume(Timeout)));
        Assert.Equal("for a", Value(await aReads.WaitAsync(Timeout)));
        Assert.Equal([0, 1], a.Assignment.Select(tp => tp.Partition.Value));
    }

    [Fact]
    public void AssignedStartOffsetsAreHonouredAndUnsetMeansCommittedElseEarliest()
    {
        for (var i = 0; i < 3; i++)
        {
            _cluster.Produce("in", 0, null, Bytes($"r{i}"));
            _cluster.Produce("in", 1, null, Bytes($"s{i}"));
        }

        var setup = _cluster.CreateConsumer("g");
        setup.Commit([new TopicPartitionOffset("in", 0, 2)]);
        var a = Member("a", assigned => [.. assigned.Select(tp => new TopicPartitionOffset(tp, tp.Partition.Value == 1 ? Offset.End : Offset.Unset))]);

        Assert.Equal("r2", Value(a.Consume(TimeSpan.Zero)));
        Assert.Null(a.Consume(TimeSpan.Zero));
        _cluster.Produce("in", 1, null, Bytes("s3"));
        Assert.Equal("s3", Value(a.Consume(TimeSpan.Zero)));
    }

    [Fact]
    public void RevokedHandlerMayStillCommitButAStaleMembersOffsetsAreRefused()
    {
        _cluster.Produce("in", 0, null, Bytes("x"));
        var producer = _cluster.CreateProducer("t");
        producer.InitTransactions(Timeout);
        var commits = 0;
        IConsumer<byte[], byte[]>? a = null;
        a = Member("a", revoked: _ =>
        {
            // Still a member of the current generation while the group waits for it to rejoin (or to leave, on Close).
            producer.BeginTransaction();
            producer.SendOffsetsToTransaction([new TopicPartitionOffset("in", 0, ++commits)], a!.ConsumerGroupMetadata, Timeout);
            producer.CommitTransaction();
        });
        Assert.Equal("x", Value(a.Consume(TimeSpan.Zero)));
        var beforeRebalance = a.ConsumerGroupMetadata;

        var b = Member("b");
        Assert.Null(a.Consume(TimeSpan.Zero));
        Assert.Equal(1, _cluster.CommittedOffsets("g")[new TopicPartition("in", 0)]);
        Assert.Equal(2, _cluster.Generation("g"));

        producer.BeginTransaction();
        producer.Produce("out", Message("late"));
        var stale = Assert.Throws<KafkaTxnRequiresAbortException>(
            () => producer.SendOffsetsToTransaction([new TopicPartitionOffset("in", 0, 9)], beforeRebalance, Timeout));
        Assert.Equal(ErrorCode.IllegalGeneration, stale.Error.Code);
        Assert.Throws<KafkaTxnRequiresAbortException>(() => producer.CommitTransaction());
        producer.AbortTransaction();

        // A member whose session expired is no longer known at all.
        _cluster.ExpireMember(b);
        producer.BeginTransaction();
        var unknown = Assert.Throws<KafkaTxnRequiresAbortException>(
            () => producer.SendOffsetsToTransaction([new TopicPartitionOffset("in", 2, 0)], b.ConsumerGroupMetadata, Timeout));
        Assert.Equal(ErrorCode.UnknownMemberId, unknown.Error.Code);
        producer.AbortTransaction();
        Assert.Empty(_cluster.ReadCommitted("out"));
        Assert.Equal(1, _cluster.CommittedOffsets("g")[new TopicPartition("in", 0)]);

        a.Close();
        Assert.Equal(2, _cluster.CommittedOffsets("g")[new TopicPartition("in", 0)]);
        Assert.Empty(_cluster.Members("g"));
    }

    [Fact]
    public void AnExpiredMembersLostHandlerCannotCommitItsOffsets()
    {
        var producer = _cluster.CreateProducer("t");
        producer.InitTransactions(Timeout);
        ErrorCode? refused = null;
        IConsumer<byte[], byte[]>? a = null;
        a = Member("a", lost: _ =>
        {
            producer.BeginTransaction();
            refused = Assert.Throws<KafkaTxnRequiresAbortException>(
                () => producer.SendOffsetsToTransaction([new TopicPartitionOffset("in", 0, 1)], a!.ConsumerGroupMetadata, Timeout)).Error.Code;
            producer.AbortTransaction();
        });
        Assert.Null(a.Consume(TimeSpan.Zero));

        _cluster.ExpireMember(a);
        Assert.Null(a.Consume(TimeSpan.Zero));

        Assert.Equal(ErrorCode.UnknownMemberId, refused);
        Assert.Empty(_cluster.CommittedOffsets("g"));
        Assert.Equal(["a assigned 0,1,2,3", "a lost 0,1,2,3", "a assigned 0,1,2,3"], Events());
    }

    [Fact]
    public void SupplierHandsOutClientsAsTheProcessorConfiguresThem()
    {
        var committed = new InMemoryKafkaSupplier(_cluster);
        var uncommitted = new InMemoryKafkaSupplier(_cluster, IsolationLevel.ReadUncommitted);
        Assert.Equal((4, null), (committed.PartitionCount("in"), committed.PartitionCount("missing")));
        var producer = committed.GetProducer("t");
        producer.InitTransactions(Timeout);
        producer.BeginTransaction();
        producer.Produce(new TopicPartition("in", 1), Message("open"));

        var restore = committed.GetRestoreConsumer("g");
        restore.Assign(new TopicPartitionOffset("in", 1, Offset.Beginning));
        Assert.Equal((true, 0L), (restore.Consume(TimeSpan.Zero).IsPartitionEOF, restore.Position(new TopicPartition("in", 1)).Value));
        var careless = uncommitted.GetRestoreConsumer("g");
        careless.Assign(new TopicPartitionOffset("in", 1, Offset.Beginning));
        Assert.Equal("open", Value(careless.Consume(TimeSpan.Zero)));

        var member = committed.GetConsumer("g", new RebalanceHandlers(tps => tps.Select(tp => new TopicPartitionOffset(tp, Offset.Beginning)), _ => { }, _ => { }));
        member.Subscribe("in");
        Assert.Null(member.Consume(TimeSpan.Zero));
        Assert.Equal(4, member.Assignment.Count);
        Assert.Equal([member], committed.Consumers);
        Assert.StartsWith("restore-", Assert.Single(committed.RestoreConsumers).Name);
        Assert.Same(producer, Assert.Single(committed.Producers));
    }

    [Fact]
    public async Task CommittedOffsetsWaitForTheTransactionThatHoldsThem()
    {
        _cluster.Produce("in", 0, null, Bytes("done"));
        _cluster.Produce("in", 0, null, Bytes("next"));
        var producer = _cluster.CreateProducer("t");
        producer.InitTransactions(Timeout);
        producer.BeginTransaction();
        producer.SendOffsetsToTransaction([new TopicPartitionOffset("in", 0, 1)], new InMemoryGroupMetadata("g", "", -1), Timeout);
        var reader = _cluster.CreateConsumer("g");
        var tp = new TopicPartition("in", 0);

        Assert.Equal(ErrorCode.Local_TimedOut, Assert.Throws<KafkaException>(() => reader.Committed([tp], TimeSpan.FromMilliseconds(20))).Error.Code);
        reader.Assign(tp);
        Assert.Null(reader.Consume(TimeSpan.Zero));
        var committed = Task.Run(() => reader.Committed([tp], Timeout));

        producer.CommitTransaction();

        Assert.Equal(1, Assert.Single(await committed.WaitAsync(Timeout)).Offset.Value);
        Assert.Equal("next", Value(reader.Consume(TimeSpan.Zero)));
    }

    private IConsumer<byte[], byte[]> Member(
        string name,
        Func<IReadOnlyList<TopicPartition>, IEnumerable<TopicPartitionOffset>>? assigned = null,
        Action<IReadOnlyList<TopicPartitionOffset>>? revoked = null,
        Action<IReadOnlyList<TopicPartitionOffset>>? lost = null)
    {
        var consumer = _cluster.CreateConsumer("g", new RebalanceHandlers(
            partitions =>
            {
                Log($"{name} assigned {Partitions(partitions)}");
                return assigned?.Invoke(partitions) ?? partitions.Select(tp => new TopicPartitionOffset(tp, Offset.Unset));
            },
            partitions =>
            {
                Log($"{name} revoked {Partitions(partitions.Select(p => p.TopicPartition))}");
                revoked?.Invoke(partitions);
            },
            partitions =>
            {
                Log($"{name} lost {Partitions(partitions.Select(p => p.TopicPartition))}");
                lost?.Invoke(partitions);
            }));
        consumer.Subscribe("in");
        return consumer;
    }

    private static string Partitions(IEnumerable<TopicPartition> partitions) => string.Join(",", partitions.Select(p => p.Partition.Value).Order());

    private void Log(string rebalanceEvent)
    {
        lock (_events)
        {
            _events.Add(rebalanceEvent);
        }
    }

    private List<string> Events()
    {
        lock (_events)
        {
            var events = _events.ToList();
            _events.Clear();
            return events;
        }
    }
}
