using System.Diagnostics;
using Confluent.Kafka;
using SignalPipeline.DevBroker;
using static SignalPipeline.Tests.DevBroker.MockClusterClients;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>Each fault kind of <see cref="MockKafkaCluster"/> as a real Confluent.Kafka client sees it.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BrokerFaultTests
{
    [Fact]
    public async Task A_retriable_produce_error_is_retried_by_the_producer_and_the_message_delivered()
    {
        using var cluster = StartCluster();
        using var producer = Producer(cluster);
        cluster.PushRequestErrors(KafkaApi.Produce, ErrorCode.NotEnoughReplicas, ErrorCode.NotEnoughReplicas);

        var delivered = await producer.Send("retried").WaitAsync(TestTimeout);

        Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
        Assert.Equal(3, cluster.TrackedRequestCount(KafkaApi.Produce));
    }

    [Fact]
    public async Task A_non_retriable_produce_error_reaches_the_delivery_report_and_the_next_message_is_delivered()
    {
        using var cluster = StartCluster();
        using var producer = Producer(cluster);
        cluster.PushRequestErrors(KafkaApi.Produce, ErrorCode.MsgSizeTooLarge);

        var failed = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.Send("refused").WaitAsync(TestTimeout));
        Assert.Equal(ErrorCode.MsgSizeTooLarge, failed.Error.Code);
        Assert.Equal(1, cluster.TrackedRequestCount(KafkaApi.Produce));

        Assert.Equal(PersistenceStatus.Persisted, (await producer.Send("next").WaitAsync(TestTimeout)).Status);
    }

    [Fact]
    public async Task A_producer_waits_while_the_broker_is_down_and_delivers_once_it_is_up()
    {
        using var cluster = StartCluster();
        using var producer = Producer(cluster);
        await producer.Send("before").WaitAsync(TestTimeout);

        cluster.SetBrokerDown(1);
        var delivery = producer.Send("during");
        // Not a timing claim: while the only broker is down, nothing can deliver the message at all.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(delivery.IsCompleted, "delivered while the broker was down");

        cluster.SetBrokerUp(1);
        Assert.Equal(PersistenceStatus.Persisted, (await delivery.WaitAsync(TestTimeout)).Status);
    }

    [Fact]
    public async Task A_broker_down_past_message_timeout_fails_the_delivery_and_the_transaction_needs_an_abort()
    {
        using var cluster = StartCluster();
        using var producer = TransactionalProducer(cluster, "tx-down-produce", messageTimeoutMs: 2000);
        producer.BeginTransaction();
        cluster.SetBrokerDown(1);

        var failed = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.Send("lost").WaitAsync(TestTimeout));
        Assert.Equal(ErrorCode.Local_MsgTimedOut, failed.Error.Code);
        var commit = Assert.Throws<KafkaTxnRequiresAbortException>(() => producer.CommitTransaction(TestTimeout));
        Assert.False(commit.Error.IsFatal);

        cluster.SetBrokerUp(1);
        producer.AbortTransaction(TestTimeout);
        await producer.CommitOneAsync("after");
    }

    [Fact]
    public async Task CommitTransaction_times_out_retriably_while_the_broker_is_down_and_the_same_commit_succeeds_after()
    {
        using var cluster = StartCluster();
        using var producer = TransactionalProducer(cluster, "tx-down-commit");
        producer.BeginTransaction();
        await producer.Send("in flight").WaitAsync(TestTimeout);

        cluster.SetBrokerDown(1);
        var timedOut = Assert.Throws<KafkaRetriableException>(() => producer.CommitTransaction(TimeSpan.FromSeconds(2)));
        Assert.Equal(ErrorCode.Local_TimedOut, timedOut.Error.Code);

        cluster.SetBrokerUp(1);
        producer.CommitTransaction(TestTimeout);
        await producer.CommitOneAsync("next");
    }

    [Fact]
    public async Task Added_round_trip_time_delays_every_response()
    {
        using var cluster = StartCluster();
        using var producer = TransactionalProducer(cluster, "tx-rtt");
        var rtt = TimeSpan.FromMilliseconds(400);
        cluster.SetBrokerRtt(1, rtt);

        // An empty transaction commits without a request, so it holds a message.
        producer.BeginTransaction();
        await producer.Send("slow").WaitAsync(TestTimeout);
        var stopwatch = Stopwatch.StartNew();
        producer.CommitTransaction(TestTimeout);

        // A lower bound only (the mock holds the EndTxn response back for the RTT); no upper bound under load.
        Assert.True(stopwatch.Elapsed >= rtt - TimeSpan.FromMilliseconds(20), $"commit took {stopwatch.ElapsedMilliseconds} ms with a {rtt.TotalMilliseconds} ms RTT");
        cluster.SetBrokerRtt(1, TimeSpan.Zero);
    }

    [Fact]
    public async Task Fetch_errors_are_retried_by_the_consumer_which_then_reads_the_record()
    {
        using var cluster = StartCluster();
        using var producer = Producer(cluster);
        await producer.Send("to fetch").WaitAsync(TestTimeout);
        using var consumer = Consumer(cluster, "fetch-faults");
        cluster.PushRequestErrors(KafkaApi.Fetch, ErrorCode.NotLeaderForPartition, ErrorCode.Local_Transport);

        consumer.Assign(new TopicPartitionOffset(Topic, 0, Offset.Beginning));
        var record = consumer.ConsumeOne(TestTimeout);

        Assert.Equal("to fetch", record.Message.Value);
        Assert.True(cluster.TrackedRequestCount(KafkaApi.Fetch) >= 3);
        consumer.Close();
    }

    [Fact]
    public async Task A_moved_partition_leader_is_followed_by_the_producer()
    {
        using var cluster = StartCluster(brokers: 2);
        cluster.SetPartitionLeader(Topic, 0, 1);
        using var producer = Producer(cluster);
        await producer.Send("to broker 1").WaitAsync(TestTimeout);

        cluster.SetPartitionLeader(Topic, 0, 2);
        cluster.SetBrokerDown(1);
        cluster.ClearTrackedRequests();
        Assert.Equal(PersistenceStatus.Persisted, (await producer.Send("to broker 2").WaitAsync(TestTimeout)).Status);

        Assert.Contains(cluster.TrackedRequests(), r => r.Api == KafkaApi.Produce && r.BrokerId == 2);
    }

    [Fact]
    public void A_topic_error_is_reported_in_metadata_until_cleared()
    {
        using var cluster = StartCluster();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();

        cluster.SetTopicError(Topic, ErrorCode.TopicAuthorizationFailed);
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, admin.GetMetadata(Topic, TestTimeout).Topics.Single().Error.Code);

        cluster.ClearFaults();
        Assert.Equal(ErrorCode.NoError, admin.GetMetadata(Topic, TestTimeout).Topics.Single().Error.Code);
    }

    [Fact]
    public void A_topic_error_set_on_a_topic_the_broker_does_not_have_creates_it_as_docs_kafka_md_says()
    {
        using var cluster = StartCluster();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        const string typo = "sample-inptu";
        // The list of all topics: a request that names the topic could create it by itself.
        Assert.DoesNotContain(admin.GetMetadata(TestTimeout).Topics, t => t.Topic == typo);

        cluster.SetTopicError(typo, ErrorCode.TopicAuthorizationFailed);

        Assert.Equal(ErrorCode.TopicAuthorizationFailed, admin.GetMetadata(TestTimeout).Topics.Single(t => t.Topic == typo).Error.Code);
        cluster.SetTopicError(typo, ErrorCode.NoError);
        Assert.Equal(4, admin.GetMetadata(TestTimeout).Topics.Single(t => t.Topic == typo).Partitions.Count);
    }

    [Fact]
    public async Task A_deleted_topic_is_gone_a_record_for_it_times_out_and_a_producer_that_may_create_topics_creates_it_again()
    {
        using var cluster = StartCluster();
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        using var transactional = TransactionalProducer(cluster, "deleted-topic", messageTimeoutMs: 2000);
        await transactional.CommitOneAsync("before");

        cluster.DeleteTopic(Topic);
        Assert.DoesNotContain(admin.GetMetadata(TestTimeout).Topics, t => t.Topic == Topic);
        Assert.Contains($"'{Topic}'", Assert.Throws<InvalidOperationException>(() => cluster.DeleteTopic(Topic)).Message);

        // A transactional producer (librdkafka's defaults otherwise) does not create it again: its record times out.
        transactional.BeginTransaction();
        var timedOut = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => transactional.Send("after").WaitAsync(TestTimeout));
        Assert.Equal(ErrorCode.Local_MsgTimedOut, timedOut.Error.Code);
        transactional.AbortTransaction(TestTimeout);
        Assert.DoesNotContain(admin.GetMetadata(TestTimeout).Topics, t => t.Topic == Topic);

        // A plain producer with librdkafka's defaults (allow.auto.create.topics=true: the signal generator's, kcat's) does,
        // with the mock's default 4 partitions, as a broker with auto.create.topics.enable would.
        using var producer = Producer(cluster, messageTimeoutMs: 10_000);
        Assert.Equal(PersistenceStatus.Persisted, (await producer.Send("created again").WaitAsync(TestTimeout)).Status);
        Assert.Equal(4, admin.GetMetadata(TestTimeout).Topics.Single(t => t.Topic == Topic).Partitions.Count);
    }

    [Fact]
    public async Task ClearFaults_drops_queued_errors_and_brings_brokers_back()
    {
        using var cluster = StartCluster(brokers: 2);
        using var producer = Producer(cluster);
        await producer.Send("warm up").WaitAsync(TestTimeout);
        cluster.PushRequestErrors(KafkaApi.Produce, ErrorCode.NotEnoughReplicas, ErrorCode.NotEnoughReplicas, ErrorCode.NotEnoughReplicas);
        cluster.SetBrokerDown(MockKafkaCluster.AllBrokers);
        cluster.SetBrokerRtt(MockKafkaCluster.AllBrokers, TimeSpan.FromSeconds(5));

        cluster.ClearFaults();
        cluster.ClearTrackedRequests();

        await producer.Send("after clear").WaitAsync(TestTimeout);
        Assert.Equal(1, cluster.TrackedRequestCount(KafkaApi.Produce));
    }

    [Fact]
    public void An_unknown_broker_is_refused_naming_the_valid_ids()
    {
        using var cluster = StartCluster(brokers: 2);
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => cluster.SetBrokerDown(3));
        Assert.Contains("ids are 1 to 2", refused.Message);
    }
}
