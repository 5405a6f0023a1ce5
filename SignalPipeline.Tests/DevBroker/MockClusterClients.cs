using Confluent.Kafka;
using SignalPipeline.DevBroker;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>Clients set up as the pipeline's are, against an in-process <see cref="MockKafkaCluster"/>.</summary>
internal static class MockClusterClients
{
    public const string Topic = "faults";
    public static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A one-broker cluster with <see cref="Topic"/> (2 partitions) and request tracking on.</summary>
    public static MockKafkaCluster StartCluster(int brokers = 1)
    {
        var cluster = MockKafkaCluster.Start(brokers);
        cluster.CreateTopic(Topic, 2);
        cluster.StartRequestTracking();
        return cluster;
    }

    public static IProducer<Null, string> TransactionalProducer(MockKafkaCluster cluster, string transactionalId, int? messageTimeoutMs = null)
    {
        var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            TransactionalId = transactionalId,
            TransactionTimeoutMs = 10_000,
            MessageTimeoutMs = messageTimeoutMs,
        }).Build();
        producer.InitTransactions(TestTimeout);
        return producer;
    }

    public static IProducer<Null, string> Producer(MockKafkaCluster cluster, int? messageTimeoutMs = null)
        => new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            MessageTimeoutMs = messageTimeoutMs,
            // A small metadata back-off so a moved leader is found quickly.
            TopicMetadataRefreshIntervalMs = 1000,
        }).Build();

    public static IConsumer<Null, string> Consumer(MockKafkaCluster cluster, string groupId)
        => new ConsumerBuilder<Null, string>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = groupId,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            FetchWaitMaxMs = 5,
        }).Build();

    public static Task<DeliveryResult<Null, string>> Send(this IProducer<Null, string> producer, string value, int partition = 0)
        => producer.ProduceAsync(new TopicPartition(Topic, partition), new Message<Null, string> { Value = value });

    /// <summary>One transaction with one message; every step bounded.</summary>
    public static async Task CommitOneAsync(this IProducer<Null, string> producer, string value)
    {
        producer.BeginTransaction();
        await producer.Send(value).WaitAsync(TestTimeout);
        producer.CommitTransaction(TestTimeout);
    }
}
