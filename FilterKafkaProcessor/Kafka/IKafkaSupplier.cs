using Confluent.Kafka;

namespace FilterKafkaProcessor.Kafka;

/// <summary>
/// What the stream thread does when the group hands it partitions or takes them away (librdkafka's rebalance callbacks,
/// called from inside <c>Consume</c> on the thread that consumes).
/// </summary>
/// <param name="Assigned">Partitions given to this member; returns the offset to start each one from.</param>
/// <param name="Revoked">Partitions taken away in a normal rebalance (the member may still commit before returning).</param>
/// <param name="Lost">Partitions lost without a chance to commit (session timed out, fenced).</param>
/// <param name="Error">
/// An error librdkafka reports through its error callback, not from <c>Consume</c> (also called from inside <c>Consume</c>):
/// a subscribed topic deleted comes this way, <c>Local_UnknownPartition</c> then <c>UnknownTopicOrPart</c> for each of its
/// partitions (librdkafka 2.16.0, measured on the dev broker).
/// </param>
public sealed record RebalanceHandlers(
    Func<IReadOnlyList<TopicPartition>, IEnumerable<TopicPartitionOffset>> Assigned,
    Action<IReadOnlyList<TopicPartitionOffset>> Revoked,
    Action<IReadOnlyList<TopicPartitionOffset>> Lost,
    Action<Error>? Error = null);

/// <summary>
/// The seam between the processor's logic and Kafka (Streamiz's <c>IKafkaSupplier</c>): the real supplier builds
/// Confluent.Kafka clients through the project's one client setup; tests pass an in-memory cluster that behaves like a
/// real one (transactions isolated, fencing, rebalances, injected failures), so the logic is tested without a broker.
/// </summary>
public interface IKafkaSupplier
{
    /// <summary>The group consumer of the input topic: read_committed, no auto-commit, no auto offset store, earliest.</summary>
    IConsumer<byte[], byte[]> GetConsumer(string groupId, RebalanceHandlers handlers);

    /// <summary>
    /// An assign-only read_committed consumer with partition EOF events, for restoring state from the changelog (and
    /// reading the stream-config topic); <paramref name="onError"/> gets what its error callback reports (after the log).
    /// </summary>
    IConsumer<byte[], byte[]> GetRestoreConsumer(string groupId, Action<Error>? onError = null);

    /// <summary>A transactional, idempotent producer; <c>InitTransactions</c> is not called yet.</summary>
    IProducer<byte[], byte[]> GetProducer(string transactionalId);

    /// <summary>The topic's partition count, or null when the topic does not exist; a <see cref="KafkaException"/> when the cluster reports an error for it (no leader yet, not authorised).</summary>
    int? PartitionCount(string topic);

    /// <summary><see cref="PartitionCount"/> of each of <paramref name="topics"/>, from one look-up (one metadata request).</summary>
    int?[] PartitionCounts(params string[] topics);

    /// <summary>
    /// The named topics the cluster has, with the configs of <paramref name="describe"/> (null when the cluster refuses
    /// DescribeConfigs, as the dev broker does): <see cref="SignalPipeline.Kafka.TopicCheck.ObserveAsync"/>, what the
    /// start check asks.
    /// </summary>
    IReadOnlyDictionary<string, SignalPipeline.Kafka.ObservedTopic> ObserveTopics(IReadOnlyList<string> names, IReadOnlyList<string> describe);

    /// <summary>The cluster's bootstrap servers, for the commands a message spells out.</summary>
    string BootstrapServers { get; }
}
