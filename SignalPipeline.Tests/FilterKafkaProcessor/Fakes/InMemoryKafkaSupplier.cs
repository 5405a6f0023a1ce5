using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>
/// The processor's <see cref="IKafkaSupplier"/> over an <see cref="InMemoryKafkaCluster"/> (Streamiz's
/// SyncKafkaSupplier): group consumers without partition EOF, restore consumers with it, both with
/// <paramref name="isolation"/> (read_committed as the processor's; read_uncommitted to see what a careless reader
/// would); producers as the processor configures them. It keeps every client it made, so a test can reach the
/// processor's own clients (e.g. <c>cluster.ExpireMember(supplier.Consumers[0])</c>). Group consumers are named
/// "consumer-N", restore consumers "restore-N", so a fault can target one kind:
/// <c>Faults.Fail(FaultPoint.Consume, ..., when: f => f.Client.StartsWith("restore-"))</c>.
/// </summary>
public sealed class InMemoryKafkaSupplier(InMemoryKafkaCluster cluster, IsolationLevel isolation = IsolationLevel.ReadCommitted) : IKafkaSupplier
{
    private readonly List<IConsumer<byte[], byte[]>> _consumers = [];
    private readonly List<IConsumer<byte[], byte[]>> _restoreConsumers = [];
    private readonly List<IProducer<byte[], byte[]>> _producers = [];
    private int _topicLookups;

    public InMemoryKafkaCluster Cluster => cluster;

    public IReadOnlyList<IConsumer<byte[], byte[]>> Consumers => Snapshot(_consumers);

    public IReadOnlyList<IConsumer<byte[], byte[]>> RestoreConsumers => Snapshot(_restoreConsumers);

    public IReadOnlyList<IProducer<byte[], byte[]>> Producers => Snapshot(_producers);

    public IConsumer<byte[], byte[]> GetConsumer(string groupId, RebalanceHandlers handlers)
        => Keep(_consumers, cluster.CreateConsumer(groupId, handlers, isolation));

    public IConsumer<byte[], byte[]> GetRestoreConsumer(string groupId, Action<Error>? onError = null)
        => Keep(_restoreConsumers, cluster.CreateConsumer(groupId, null, isolation, partitionEof: true, kind: "restore", onError: onError));

    public IProducer<byte[], byte[]> GetProducer(string transactionalId) => Keep(_producers, cluster.CreateProducer(transactionalId));

    /// <summary>Topic look-ups asked of the cluster (each one metadata request on a real cluster).</summary>
    public int TopicLookups => _topicLookups;

    public int? PartitionCount(string topic) => PartitionCounts(topic)[0];

    public int?[] PartitionCounts(params string[] topics)
    {
        Interlocked.Increment(ref _topicLookups);
        return [.. topics.Select(cluster.PartitionCount)];
    }

    public IReadOnlyDictionary<string, ObservedTopic> ObserveTopics(IReadOnlyList<string> names, IReadOnlyList<string> describe)
    {
        Interlocked.Increment(ref _topicLookups);
        return names.Distinct(StringComparer.Ordinal)
            .Select(name => (name, partitions: cluster.PartitionCount(name)))
            .Where(t => t.partitions is not null)
            .ToDictionary(t => t.name, t => new ObservedTopic(t.name, t.partitions!.Value, describe.Contains(t.name) ? cluster.DescribeConfigs(t.name) : null), StringComparer.Ordinal);
    }

    public string BootstrapServers => "in-memory:9092";

    private static T Keep<T>(List<T> all, T client)
    {
        lock (all)
        {
            all.Add(client);
        }

        return client;
    }

    private static IReadOnlyList<T> Snapshot<T>(List<T> all)
    {
        lock (all)
        {
            return [.. all];
        }
    }
}
