using Confluent.Kafka;
using SignalPipeline.DevBroker;
using static SignalPipeline.Tests.DevBroker.MockClusterClients;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>
/// What a transactional producer (librdkafka 2.16.0, as Confluent.Kafka ships it) makes of one injected error per
/// request type of a consume-transform-produce transaction. This table is the one in docs/kafka.md ("Fault injection"):
/// a change of librdkafka that changes a row fails here.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class TransactionFaultTests
{
    public enum Outcome
    {
        /// <summary>The client retries by itself; the transaction commits; the request was sent again.</summary>
        Retried,

        /// <summary>A <see cref="KafkaTxnRequiresAbortException"/>: abort, and a later transaction commits.</summary>
        Abortable,

        /// <summary>A fatal <see cref="KafkaException"/>: the producer is dead; a new one with the same id works.</summary>
        Fatal,
    }

    // (request, injected error, outcome, error code the application sees, transactions after the abort until one commits)
    public static TheoryData<KafkaApi, ErrorCode, Outcome, ErrorCode, int> Table => new()
    {
        { KafkaApi.EndTxn, ErrorCode.NotCoordinatorForGroup, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.EndTxn, ErrorCode.GroupCoordinatorNotAvailable, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.EndTxn, ErrorCode.ConcurrentTransactions, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.EndTxn, ErrorCode.Local_Transport, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.EndTxn, ErrorCode.UnknownProducerId, Outcome.Abortable, ErrorCode.UnknownProducerId, 1 },
        { KafkaApi.EndTxn, ErrorCode.RequestTimedOut, Outcome.Abortable, ErrorCode.RequestTimedOut, 1 },
        { KafkaApi.EndTxn, ErrorCode.Unknown, Outcome.Abortable, ErrorCode.Unknown, 1 },
        { KafkaApi.EndTxn, ErrorCode.ProducerFenced, Outcome.Fatal, ErrorCode.Local_Fenced, 0 },
        { KafkaApi.EndTxn, ErrorCode.InvalidProducerEpoch, Outcome.Fatal, ErrorCode.Local_Fenced, 0 },
        { KafkaApi.EndTxn, ErrorCode.InvalidTxnState, Outcome.Fatal, ErrorCode.InvalidTxnState, 0 },
        { KafkaApi.EndTxn, ErrorCode.TransactionalIdAuthorizationFailed, Outcome.Fatal, ErrorCode.TransactionalIdAuthorizationFailed, 0 },
        { KafkaApi.AddPartitionsToTxn, ErrorCode.ConcurrentTransactions, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.AddPartitionsToTxn, ErrorCode.NotCoordinatorForGroup, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.AddPartitionsToTxn, ErrorCode.TopicAuthorizationFailed, Outcome.Abortable, ErrorCode.TopicAuthorizationFailed, 1 },
        { KafkaApi.AddPartitionsToTxn, ErrorCode.ProducerFenced, Outcome.Fatal, ErrorCode.Local_Fenced, 0 },
        { KafkaApi.AddPartitionsToTxn, ErrorCode.InvalidTxnState, Outcome.Fatal, ErrorCode.InvalidTxnState, 0 },
        { KafkaApi.AddOffsetsToTxn, ErrorCode.ConcurrentTransactions, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.AddOffsetsToTxn, ErrorCode.GroupAuthorizationFailed, Outcome.Abortable, ErrorCode.GroupAuthorizationFailed, 1 },
        { KafkaApi.AddOffsetsToTxn, ErrorCode.ProducerFenced, Outcome.Abortable, ErrorCode.Local_Fenced, 1 },
        { KafkaApi.TxnOffsetCommit, ErrorCode.GroupCoordinatorNotAvailable, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.TxnOffsetCommit, ErrorCode.UnknownMemberId, Outcome.Abortable, ErrorCode.UnknownMemberId, 1 },
        { KafkaApi.TxnOffsetCommit, ErrorCode.IllegalGeneration, Outcome.Abortable, ErrorCode.IllegalGeneration, 1 },
        { KafkaApi.TxnOffsetCommit, ErrorCode.FencedInstanceId, Outcome.Abortable, ErrorCode.FencedInstanceId, 1 },
        { KafkaApi.TxnOffsetCommit, ErrorCode.GroupAuthorizationFailed, Outcome.Abortable, ErrorCode.GroupAuthorizationFailed, 1 },
        { KafkaApi.Produce, ErrorCode.NotEnoughReplicas, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.Produce, ErrorCode.NotLeaderForPartition, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.Produce, ErrorCode.Local_Transport, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.Produce, ErrorCode.MsgSizeTooLarge, Outcome.Abortable, ErrorCode.MsgSizeTooLarge, 2 },
        { KafkaApi.Produce, ErrorCode.InvalidRecord, Outcome.Abortable, ErrorCode.InvalidRecord, 2 },
        { KafkaApi.Produce, ErrorCode.TopicAuthorizationFailed, Outcome.Abortable, ErrorCode.TopicAuthorizationFailed, 1 },
        { KafkaApi.Produce, ErrorCode.InvalidProducerEpoch, Outcome.Fatal, ErrorCode.Local_Fenced, 0 },
        { KafkaApi.Produce, ErrorCode.OutOfOrderSequenceNumber, Outcome.Fatal, ErrorCode.OutOfOrderSequenceNumber, 0 },
        { KafkaApi.InitProducerId, ErrorCode.ConcurrentTransactions, Outcome.Retried, ErrorCode.NoError, 0 },
        { KafkaApi.FindCoordinator, ErrorCode.GroupCoordinatorNotAvailable, Outcome.Retried, ErrorCode.NoError, 0 },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public async Task An_injected_error_reaches_the_transactional_producer_as_measured(
        KafkaApi api, ErrorCode injected, Outcome expected, ErrorCode reported, int transactionsToRecover)
    {
        using var cluster = StartCluster();
        using var consumer = Consumer(cluster, "group");
        var transactionalId = $"tx-{api}-{injected}";
        var duringInit = api is KafkaApi.InitProducerId or KafkaApi.FindCoordinator;
        if (duringInit)
        {
            cluster.PushRequestErrors(api, injected);
        }

        using var producer = TransactionalProducer(cluster, transactionalId);
        if (!duringInit)
        {
            cluster.PushRequestErrors(api, injected);
        }

        var error = await TryTransactionAsync(producer, consumer);

        switch (expected)
        {
            case Outcome.Retried:
                Assert.Null(error);
                Assert.True(cluster.TrackedRequestCount(api) >= 2, $"{api} was sent {cluster.TrackedRequestCount(api)} time(s); a retry sends it again.");
                break;
            case Outcome.Abortable:
                var abortable = Assert.IsType<KafkaTxnRequiresAbortException>(error);
                Assert.Equal(reported, abortable.Error.Code);
                Assert.False(abortable.Error.IsFatal);
                producer.AbortTransaction(TestTimeout);
                Assert.Equal(transactionsToRecover, await TransactionsUntilCommitAsync(producer, consumer));
                break;
            case Outcome.Fatal:
                Assert.NotNull(error);
                Assert.True(error.Error.IsFatal, $"{error.Error.Code} is not fatal");
                Assert.Equal(reported, error.Error.Code);
                Assert.True(Assert.ThrowsAny<KafkaException>(() => producer.AbortTransaction(TestTimeout)).Error.IsFatal);
                using (var successor = TransactionalProducer(cluster, transactionalId))
                {
                    Assert.Equal(1, await TransactionsUntilCommitAsync(successor, consumer));
                }

                break;
        }
    }

    [Fact]
    public async Task A_partition_refused_to_the_transaction_purges_its_records_and_only_the_next_transactional_call_names_the_refusal()
    {
        // What RecordCollector.TransactionError relies on (an ACL taken away while the processor runs: docs/processor.md,
        // "Access refused"): the record's report says only that it was purged, the refusal is the transaction's state.
        using var cluster = StartCluster();
        using var consumer = Consumer(cluster, "group");
        using var producer = TransactionalProducer(cluster, "tx-partition-refused");
        cluster.PushRequestErrors(KafkaApi.AddPartitionsToTxn, ErrorCode.TopicAuthorizationFailed);
        producer.BeginTransaction();

        var purged = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.Send("value").WaitAsync(TestTimeout));
        Assert.Equal(ErrorCode.Local_PurgeQueue, purged.Error.Code);
        var refusedToQueue = Assert.Throws<ProduceException<Null, string>>(() => producer.Produce(Topic, new Message<Null, string> { Value = "next" }));
        Assert.Equal(ErrorCode.Local_State, refusedToQueue.Error.Code);

        var refused = Assert.Throws<KafkaTxnRequiresAbortException>(
            () => producer.SendOffsetsToTransaction([new TopicPartitionOffset(Topic, 0, 1)], consumer.ConsumerGroupMetadata, TestTimeout));
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, refused.Error.Code);
        Assert.Equal(0, cluster.TrackedRequestCount(KafkaApi.AddOffsetsToTxn));
        producer.AbortTransaction(TestTimeout);
    }

    [Fact]
    public async Task A_commit_can_succeed_although_a_message_of_its_transaction_failed_delivery()
    {
        // After an injected TOPIC_AUTHORIZATION_FAILED the client keeps the topic's error for a while and fails the next
        // transaction's message locally, without a ProduceRequest, yet lets that transaction commit. So a producer must
        // check every delivery report of a transaction before it commits; a successful commit does not prove them.
        // "For a while" is timing: once in CI (2026-12-03) the second message was purged instead (Local_PurgeQueue), so
        // up to three fresh clusters are tried; whenever the local failure happens, the commit must succeed.
        var otherwise = new List<string>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            using var cluster = StartCluster();
            using var producer = TransactionalProducer(cluster, "tx-failed-delivery");
            cluster.PushRequestErrors(KafkaApi.Produce, ErrorCode.TopicAuthorizationFailed);
            producer.BeginTransaction();
            await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.Send("first").WaitAsync(TestTimeout));
            Assert.Throws<KafkaTxnRequiresAbortException>(() => producer.CommitTransaction(TestTimeout));
            producer.AbortTransaction(TestTimeout);

            producer.BeginTransaction();
            var failed = await Record.ExceptionAsync(() => producer.Send("second").WaitAsync(TestTimeout));
            if (failed is ProduceException<Null, string> { Error.Code: ErrorCode.TopicAuthorizationFailed })
            {
                producer.CommitTransaction(TestTimeout);
                return;
            }

            otherwise.Add(failed is ProduceException<Null, string> e ? e.Error.Code.ToString() : failed?.GetType().Name ?? "delivered");
        }

        Assert.Fail($"The message after the abort never failed locally with TopicAuthorizationFailed in three tries: {string.Join(", ", otherwise)}.");
    }

    [Fact]
    public async Task The_dev_broker_does_not_fence_an_old_producer_so_tests_inject_the_fencing_error()
    {
        // A real cluster refuses the old producer's commit once a new one ran InitTransactions with the same id
        // (PRODUCER_FENCED). The mock lets it commit, so zombie-fencing tests must inject the error (see the table).
        using var cluster = StartCluster();
        using var old = TransactionalProducer(cluster, "tx-zombie");
        old.BeginTransaction();
        await old.Send("from the old owner").WaitAsync(TestTimeout);
        using var successor = TransactionalProducer(cluster, "tx-zombie");

        old.CommitTransaction(TestTimeout);

        await successor.CommitOneAsync("from the new owner");
    }

    [Fact]
    public async Task The_dev_broker_does_not_abort_a_transaction_open_past_its_timeout()
    {
        // A real coordinator aborts it after transaction.timeout.ms and the late commit fails; the mock commits it.
        using var cluster = StartCluster();
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            TransactionalId = "tx-overdue",
            TransactionTimeoutMs = 1000,
        }).Build();
        producer.InitTransactions(TestTimeout);
        producer.BeginTransaction();
        await producer.Send("overdue").WaitAsync(TestTimeout);

        await Task.Delay(TimeSpan.FromSeconds(3));

        producer.CommitTransaction(TestTimeout);
    }

    /// <summary>One consume-transform-produce transaction: a message, the consumer's offsets, the commit.</summary>
    private static async Task<KafkaException?> TryTransactionAsync(IProducer<Null, string> producer, IConsumer<Null, string> consumer)
    {
        producer.BeginTransaction();
        try
        {
            await producer.Send("value").WaitAsync(TestTimeout);
        }
        catch (ProduceException<Null, string>)
        {
            // A failed delivery is not where the transaction API reports it: the next transactional call throws.
        }

        try
        {
            producer.SendOffsetsToTransaction([new TopicPartitionOffset(Topic, 0, 1)], consumer.ConsumerGroupMetadata, TestTimeout);
            producer.CommitTransaction(TestTimeout);
            return null;
        }
        catch (KafkaException ex)
        {
            return ex;
        }
    }

    private static async Task<int> TransactionsUntilCommitAsync(IProducer<Null, string> producer, IConsumer<Null, string> consumer)
    {
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var error = await TryTransactionAsync(producer, consumer);
            if (error is null)
            {
                return attempt;
            }

            Assert.IsType<KafkaTxnRequiresAbortException>(error);
            producer.AbortTransaction(TestTimeout);
        }

        return int.MaxValue;
    }
}
