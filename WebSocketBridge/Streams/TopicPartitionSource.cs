using Confluent.Kafka;

namespace WebSocketBridge.Streams;

/// <summary>
/// The partitions cluster metadata lists for a topic now. A seam over the one metadata call the Kafka loop makes, so
/// tests can answer as a broker with stale metadata would (the dev broker's metadata is never stale).
/// </summary>
public interface ITopicPartitionSource
{
    /// <summary>
    /// The topic's partitions, ordered; empty when metadata does not show the topic (deleted, or the request failed).
    /// </summary>
    List<TopicPartition> Get(Handle client, string topic);
}

/// <summary>Asks the cluster through the consumer's own connection (a dependent admin client: no second client).</summary>
public sealed class MetadataTopicPartitions(ILogger<MetadataTopicPartitions> logger) : ITopicPartitionSource
{
    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(10);

    public List<TopicPartition> Get(Handle client, string topic)
    {
        try
        {
            using var admin = new DependentAdminClientBuilder(client).Build();
            var metadata = admin.GetMetadata(topic, MetadataTimeout);
            var found = metadata.Topics.FirstOrDefault(t => t.Topic == topic);
            if (found is null || found.Error.IsError)
            {
                return [];
            }

            return [.. found.Partitions.Select(p => new TopicPartition(topic, p.PartitionId)).OrderBy(tp => tp.Partition.Value)];
        }
        catch (KafkaException ex)
        {
            logger.LogWarning("Metadata request for {Topic} failed: {Reason}", topic, ex.Error.Reason);
            return [];
        }
    }
}
