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
    /// <exception cref="KafkaException">
    /// The cluster did not answer within <paramref name="timeout"/>, or lists the topic with an error (<see cref="Usable"/>).
    /// </exception>
    public static TopicMetadata? FindTopic(this IAdminClient admin, string topic, TimeSpan timeout)
        => admin.FindTopics([topic], timeout)[0];

    /// <summary><see cref="FindTopic"/> for each of <paramref name="topics"/>, from one metadata request.</summary>
    /// <exception cref="KafkaException">As <see cref="FindTopic"/>, for the first topic listed with an error.</exception>
    public static TopicMetadata?[] FindTopics(this IAdminClient admin, IReadOnlyList<string> topics, TimeSpan timeout)
    {
        var listed = admin.GetMetadata(timeout).Topics;
        return [.. topics.Select(topic => Usable(listed.FirstOrDefault(t => t.Topic == topic)))];
    }

    /// <summary>
    /// <paramref name="topic"/> when the cluster lists it without an error; null when it does not list it or calls it
    /// unknown. Any other error (no leader yet, not authorised) is a <see cref="KafkaException"/> naming the topic: such a
    /// topic is there, not missing, and "run topics ensure" would be the wrong advice.
    /// </summary>
    public static TopicMetadata? Usable(TopicMetadata? topic)
    {
        if (topic is null || topic.Error.Code == ErrorCode.UnknownTopicOrPart)
        {
            return null;
        }

        return topic.Error.IsError
            ? throw new KafkaException(new Error(topic.Error.Code, $"topic '{topic.Topic}': {topic.Error.Reason}"))
            : topic;
    }
}
