using System.Text;
using Confluent.Kafka;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Directory;

/// <summary>
/// The directory topic's edge: a plain producer for this instance's announcements and tombstones, and an assign-only
/// consumer reading every partition from the beginning (no group membership, no commits: each instance reads all of
/// it, as the stream-config table does). No admin group calls (the dev broker's client can crash on them).
/// </summary>
public sealed class DirectoryLink : IDisposable
{
    private readonly string _topic;
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly IConsumer<byte[], byte[]> _consumer;
    private readonly ILogger _logger;

    public DirectoryLink(KafkaClientFactory kafka, string topic, int partitions, ILogger logger)
    {
        _topic = topic;
        _logger = logger;
        _producer = kafka.CreateProducer<byte[], byte[]>(config => config.LingerMs = 0);
        _consumer = kafka.CreateConsumer<byte[], byte[]>(PipelineTopics.ProcessorGroup + "-instances", config =>
        {
            config.EnableAutoCommit = false;
            config.EnableAutoOffsetStore = false;
            config.AutoOffsetReset = AutoOffsetReset.Earliest;
        });
        _consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
    }

    public void Publish(InstanceEntry entry) => Produce(entry.Instance, entry.Serialize());

    /// <summary>Removes <paramref name="instance"/> from the directory (a tombstone).</summary>
    public void Remove(string instance) => Produce(instance, null);

    /// <summary>Waits up to <paramref name="timeout"/> for what was published to be delivered; false if some was not.</summary>
    public bool Flush(TimeSpan timeout) => _producer.Flush(timeout) == 0;

    /// <summary>Applies what arrives within <paramref name="wait"/> (then what is already fetched) to <paramref name="directory"/>; returns the records read.</summary>
    public int Poll(TimeSpan wait, InstanceDirectory directory)
    {
        var read = 0;
        for (var record = _consumer.Consume(wait); record is not null; record = _consumer.Consume(TimeSpan.Zero))
        {
            read++;
            var instance = Encoding.UTF8.GetString(record.Message.Key ?? []);
            if (record.Message.Value is null)
            {
                directory.Apply(instance, null);
            }
            else if (InstanceEntry.Deserialize(instance, record.Message.Value, out var error) is { } entry)
            {
                if (!directory.Apply(instance, entry))
                {
                    _logger.LogWarning("Directory record at {Source} is ignored: announced at {AtMs} (Unix ms), more than the entries' expiry ahead of this instance's clock",
                        record.TopicPartitionOffset, entry.AtMs);
                }
            }
            else
            {
                _logger.LogWarning("Directory record at {Source} is ignored: {Error}", record.TopicPartitionOffset, error);
            }
        }

        return read;
    }

    private void Produce(string instance, byte[]? value)
        => _producer.Produce(_topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(instance), Value = value! }, report =>
        {
            if (report.Error.IsError)
            {
                _logger.LogWarning("Directory record of {Instance} not written: {Reason} (written again at the next heartbeat)", instance, report.Error.Reason);
            }
        });

    public void Dispose()
    {
        try
        {
            _consumer.Close();
        }
        catch (KafkaException e)
        {
            _logger.LogDebug(e, "Closing the directory consumer failed");
        }

        _consumer.Dispose();
        _producer.Dispose();
    }
}
