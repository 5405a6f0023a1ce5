using System.Text;
using Confluent.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>The fake cluster's transactions, isolation, fencing, faults and limits behave as a real cluster's.</summary>
public sealed class InMemoryKafkaTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly InMemoryKafkaCluster _cluster = new();

    public InMemoryKafkaTests() => _cluster.CreateTopic("out", 1);

    [Fact]
    public void OpenAndAbortedTransactionsAreInvisibleToReadCommittedOnly()
    {
        var producer = Transactional("t");
        producer.BeginTransaction();
        producer.Produce("out", Message("a"));
        producer.Produce("out", Message("b"));
        Assert.Empty(_cluster.ReadCommitted("out"));
        Assert.Equal(["a", "b"], Values(_cluster.ReadUncommitted("out")));
        Assert.Equal(0, _cluster.LastStableOffset("out", 0));
        Assert.Equal(2, _cluster.HighWatermark("out", 0));

        producer.AbortTransaction();
        producer.BeginTransaction();
        producer.Produce("out", Message("c"));
        producer.CommitTransaction();

        // a, b, abort marker, c, commit marker: control records take offsets too.
        Assert.Equal([("c", 3L)], _cluster.ReadCommitted("out").Select(r => (Value(r), r.Offset.Value)));
        Assert.Equal(["a", "b", "c"], Values(_cluster.ReadUncommitted("out")));
        Assert.Equal(5, _cluster.LastStableOffset("out", 0));
        Assert.Equal(5, _cluster.HighWatermark("out", 0));

        Assert.Equal(["c", "EOF@5"], Drain(Reader(IsolationLevel.ReadCommitted)));
        Assert.Equal(["a", "b", "c", "EOF@5"], Drain(Reader(IsolationLevel.ReadUncommitted)));
    }

    [Fact]
    public void ReadCommittedStopsAtTheLastStableOffsetAndReportsEofThere()
    {
        _cluster.Produce("out", 0, null, Bytes("plain0"));
        var producer = Transactional("t");
        producer.BeginTransaction();
        producer.Produce("out", Message("open"));
        _cluster.Produce("out", 0, null, Bytes("plain2"));
        var reader = Reader(IsolationLevel.ReadCommitted);

        Assert.Equal(["plain0", "EOF@1"], Drain(reader));
        var watermarks = reader.QueryWatermarkOffsets(new TopicPartition("out", 0), Timeout);
        Assert.Equal((0L, 3L), (watermarks.Low.Value, watermarks.High.Value));
        Assert.Equal(1, reader.Position(new TopicPartition("out", 0)).Value);

        producer.CommitTransaction();
        Assert.Equal(["open", "plain2", "EOF@4"], Drain(reader));
    }

    [Fact]
    public void CommitReportsDeliveriesAndMakesOffsetsTheGroups()
    {
        var producer = Transactional("t");
        var reports = new List<DeliveryReport<byte[], byte[]>>();
        producer.BeginTransaction();
        producer.Produce("out", Message("a"), reports.Add);
        producer.SendOffsetsToTransaction([new TopicPartitionOffset("in", 0, 7)], new InMemoryGroupMetadata("g", "", -1), Timeout);
        Assert.Empty(reports);
        Assert.Empty(_cluster.CommittedOffsets("g"));

        producer.CommitTransaction(Timeout);

        var report = Assert.Single(reports);
        Assert.Equal((ErrorCode.NoError, PersistenceStatus.Persisted, 0L), (report.Error.Code, report.Status, report.Offset.Value));
        Assert.Equal(7, _cluster.CommittedOffsets("g")[new TopicPartition("in", 0)]);
    }

    [Fact]
    public void InitTransactionsFencesThePreviousProducerAndAbortsItsTransaction()
    {
        var zombie = Transactional("t");
        zombie.BeginTransaction();
        zombie.Produce("out", Message("zombie"));

        var successor = Transactional("t");
        successor.BeginTransaction();
        successor.Produce("out", Message("successor"));
        successor.CommitTransaction();

        Assert.Equal(["successor"], Values(_cluster.ReadCommitted("out")));
        var fenced = Assert.Throws<KafkaException>(() => zombie.CommitTransaction());
        Assert.Equal((ErrorCode.Local_Fenced, true), (fenced.Error.Code, fenced.Error.IsFatal));
        var produce = Assert.Throws<ProduceException<byte[], byte[]>>(() => zombie.Produce("out", Message("late")));
        Assert.True(produce.Error.IsFatal);
    }

    [Fact]
    public void ExpiredTransactionIsAbortedAndItsProducerFenced()
    {
        var producer = Transactional("t");
        producer.BeginTransaction();
        producer.Produce("out", Message("a"));

        _cluster.ExpireTransaction("t");

        Assert.Equal(2, _cluster.LastStableOffset("out", 0));
        Assert.Empty(_cluster.ReadCommitted("out"));
        Assert.True(Assert.Throws<KafkaException>(() => producer.CommitTransaction()).Error.IsFatal);
    }

    [Fact]
    public void InjectedFaultsSurfaceAsTheClientsExceptionsAndLeaveTheProducerInTheRightState()
    {
        var producer = Transactional("t");
        producer.BeginTransaction();
        producer.Produce("out", Message("a"));

        // Retriable: the same call may be retried.
        _cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Retriable());
        Assert.Throws<KafkaRetriableException>(() => producer.CommitTransaction());
        producer.CommitTransaction();
        Assert.Equal(["a"], Values(_cluster.ReadCommitted("out")));

        // Abortable: only an abort helps.
        producer.BeginTransaction();
        producer.Produce("out", Message("b"));
        _cluster.Faults.Fail(FaultPoint.CommitTransaction, () => KafkaFaults.Abortable());
        Assert.Throws<KafkaTxnRequiresAbortException>(() => producer.CommitTransaction());
        Assert.Throws<KafkaTxnRequiresAbortException>(() => producer.CommitTransaction());
        producer.AbortTransaction();

        // A refused record: error in its delivery report, then the transaction needs an abort.
        producer.BeginTransaction();
        var reports = new List<DeliveryReport<byte[], byte[]>>();
        _cluster.Faults.FailDelivery(ErrorCode.NotEnoughReplicas, when: f => f.Topic == "out");
        producer.Produce("out", Message("c"), reports.Add);
        Assert.Equal(1, producer.Poll(TimeSpan.Zero));
        Assert.Equal((ErrorCode.NotEnoughReplicas, PersistenceStatus.NotPersisted), (reports[0].Error.Code, reports[0].Status));
        Assert.Throws<KafkaTxnRequiresAbortException>(() => producer.CommitTransaction());
        producer.AbortTransaction();

        // Synchronous produce error: nothing written.
        producer.BeginTransaction();
        _cluster.Faults.Fail(FaultPoint.Produce, () => KafkaFaults.ProduceError());
        Assert.Equal(ErrorCode.Local_QueueFull, Assert.Throws<ProduceException<byte[], byte[]>>(() => producer.Produce("out", Message("d"))).Error.Code);

        // Fatal: the producer is finished.
        _cluster.Faults.Fail(FaultPoint.SendOffsets, () => KafkaFaults.Fatal());
        Assert.True(Assert.Throws<KafkaException>(() => producer.SendOffsetsToTransaction([], new InMemoryGroupMetadata("g", "", -1), Timeout)).Error.IsFatal);
        Assert.True(Assert.Throws<KafkaException>(() => producer.AbortTransaction()).Error.IsFatal);

        _cluster.Faults.Fail(FaultPoint.Consume, () => KafkaFaults.ConsumeError());
        Assert.Throws<ConsumeException>(() => Reader(IsolationLevel.ReadCommitted).Consume(TimeSpan.Zero));
        Assert.Equal(["a"], Values(_cluster.ReadCommitted("out")));
        Assert.Equal(0, _cluster.Faults.Pending);
    }

    [Fact]
    public async Task ATransactionalCallWhileAnotherRunsIsRefusedAsLibrdkafkaRefusesIt()
    {
        // librdkafka allows one transactional call at a time (rd_kafka_txn_curr_api_begin: "Conflicting ... API call is
        // already in progress"): the processor joins its commit before it aborts, and the fake holds it to that.
        var producer = Transactional("t");
        producer.BeginTransaction();
        producer.Produce("out", Message("a"));
        var stall = _cluster.Faults.Stall(FaultPoint.SendOffsets);
        var offsets = Task.Run(() => producer.SendOffsetsToTransaction([new TopicPartitionOffset("in", 0, 1)], new InMemoryGroupMetadata("g", "", -1), Timeout));
        await stall.Reached.WaitAsync(Timeout);

        var conflict = Assert.Throws<KafkaException>(() => producer.AbortTransaction());
        Assert.Equal(ErrorCode.Local_Conflict, conflict.Error.Code);
        Assert.Contains("send_offsets_to_transaction", conflict.Error.Reason);
        Assert.Equal(ErrorCode.Local_Conflict, Assert.Throws<KafkaException>(() => producer.CommitTransaction()).Error.Code);

        stall.Release();
        await offsets.WaitAsync(Timeout);
        producer.CommitTransaction();
        Assert.Equal(["a"], Values(_cluster.ReadCommitted("out")));
    }

    [Fact]
    public async Task ProducerStalledMidCommitFindsItselfFencedWhenItWakes()
    {
        var zombie = Transactional("t");
        zombie.BeginTransaction();
        zombie.Produce("out", Message("zombie"));
        zombie.SendOffsetsToTransaction([new TopicPartitionOffset("in", 0, 5)], new InMemoryGroupMetadata("g", "", -1), Timeout);
        var stall = _cluster.Faults.Stall(FaultPoint.CommitTransaction);
        var commit = Task.Run(() => zombie.CommitTransaction());
        await stall.Reached.WaitAsync(Timeout);

        var successor = Transactional("t");
        stall.Release();

        var fenced = await Assert.ThrowsAsync<KafkaException>(() => commit.WaitAsync(Timeout));
        Assert.Equal(ErrorCode.Local_Fenced, fenced.Error.Code);
        Assert.Empty(_cluster.ReadCommitted("out"));
        Assert.Empty(_cluster.CommittedOffsets("g"));
        successor.BeginTransaction();
    }

    [Fact]
    public void RecordsOverMessageMaxBytesAreRefusedAtProduce()
    {
        var producer = _cluster.CreateProducer();
        var limit = _cluster.MaxMessageBytes;
        producer.Produce("out", new Message<byte[], byte[]> { Key = [1], Value = new byte[limit - 1] });

        var tooLarge = Assert.Throws<ProduceException<byte[], byte[]>>(
            () => producer.Produce("out", new Message<byte[], byte[]> { Key = [1], Value = new byte[limit - 1], Headers = [new Header("h", [])] }));
        Assert.Equal(ErrorCode.MsgSizeTooLarge, tooLarge.Error.Code);
        Assert.Single(_cluster.ReadCommitted("out"));
    }

    private IProducer<byte[], byte[]> Transactional(string id)
    {
        var producer = _cluster.CreateProducer(id);
        producer.InitTransactions(Timeout);
        return producer;
    }

    private IConsumer<byte[], byte[]> Reader(IsolationLevel isolation)
    {
        var consumer = _cluster.CreateConsumer("reader", isolation: isolation, partitionEof: true);
        consumer.Assign(new TopicPartitionOffset("out", 0, Offset.Beginning));
        return consumer;
    }

    /// <summary>Values read up to and including the next partition EOF.</summary>
    private static List<string> Drain(IConsumer<byte[], byte[]> consumer)
    {
        var read = new List<string>();
        while (consumer.Consume(TimeSpan.Zero) is { } result)
        {
            read.Add(result.IsPartitionEOF ? $"EOF@{result.Offset.Value}" : Value(result));
            if (result.IsPartitionEOF)
            {
                break;
            }
        }

        return read;
    }

    internal static Message<byte[], byte[]> Message(string value) => new() { Key = Bytes(value), Value = Bytes(value) };

    internal static byte[] Bytes(string value) => Encoding.UTF8.GetBytes(value);

    internal static string Value(ConsumeResult<byte[], byte[]> result) => Encoding.UTF8.GetString(result.Message.Value);

    internal static List<string> Values(IEnumerable<ConsumeResult<byte[], byte[]>> results) => [.. results.Select(Value)];
}
