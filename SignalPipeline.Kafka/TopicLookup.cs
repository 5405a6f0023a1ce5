using Confluent.Kafka;

namespace SignalPipeline.Kafka;

/// <summary>
/// A topic's metadata without creating it. A metadata request that names a topic creates it on a broker with
/// <c>auto.create.topics.enable=true</c> (Apache Kafka's default, and the dev broker): librdkafka's admin and producer
/// handles ask with <c>allow.auto.create.topics=true</c> by default. So this asks for every topic and looks the name up,
/// as <see cref="TopicCheck"/> and <c>signal-pipeline kafka topics list</c> do.
/// </summary>
public static class TopicLookup
{
    /// <summary>The cluster's metadata of <paramref name="topic"/>, or null when the cluster does not list it.</summary>
    /// <exception cref="KafkaException">The cluster did not answer within <paramref name="timeout"/>.</exception>
    public static TopicMetadata? FindTopic(this IAdminClient admin, string topic, TimeSpan timeout)
        => admin.GetMetadata(timeout).Topics.FirstOrDefault(t => t.Topic == topic);
}
