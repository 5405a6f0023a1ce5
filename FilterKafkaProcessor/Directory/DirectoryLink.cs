using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Directory;

/// <summary>
/// The directory topic's edge: a plain producer for this instance's announcements and tombstones, and an assign-only
/// consumer reading every partition from the beginning (no group membership, no commits: each instance reads all of
/// it, as the stream-config table does). No admin group calls (the dev broker's client can crash on them).
/// </summary>
public sealed class DirectoryLink : IDisposable
{
    /// <summary>The directory consumer's <c>group.id</c> (assign-only: no group is joined, no offsets committed).</summary>
    public const string ConsumerGroup = PipelineTopics.ProcessorGroup + "-instances";

    private readonly string _topic;
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly IConsumer<byte[], byte[]> _consumer;
    private readonly ILogger _logger;
    private readonly DirectoryRecords _records;
    private readonly RefusalWatch _refusals = new();

    public DirectoryLink(KafkaClientFactory kafka, string topic, int partitions, ILogger logger, DirectoryTelemetry? telemetry = null)
    {
        _topic = topic;
        _logger = logger;
        _records = new DirectoryRecords(logger, telemetry);
        _producer = kafka.CreateProducer<byte[], byte[]>(config => config.LingerMs = 0);
        _consumer = kafka.CreateConsumer<byte[], byte[]>(ConsumerGroup, ConfigureConsumer, onError: _refusals.Note);
        _consumer.Assign(Enumerable.Range(0, partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
    }

    /// <summary>
    /// The directory consumer's settings over the configured ones (docs/processor.md, Settings): no commits, every
    /// partition from its start, and at most 1 MiB prefetched where <c>Kafka:Consumer</c> sets no
    /// <c>queued.max.messages.kbytes</c>.
    /// </summary>
    public static void ConfigureConsumer(ConsumerConfig config)
    {
        config.EnableAutoCommit = false;
        config.EnableAutoOffsetStore = false;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;

        // Its records are announcements of a few hundred bytes, one per instance and heartbeat (5 s) in a compacted
        // topic (one record per instance once compacted): 1 MiB holds thousands. librdkafka's default, 64 MiB, would let
        // a backlog (compaction lagging, or whoever can write the topic filling it) sit in native memory for nothing,
        // beside the group consumer's 16 MiB and each restore reader's 4 MiB.
        config.QueuedMaxMessagesKbytes ??= 1024;
    }

    /// <summary>
    /// The first refusal of the topic to this instance's ACLs (<see cref="KafkaAccess.IsRefusal"/>), from a
    /// delivery report, the consumer's error callback or <see cref="Poll"/>; null while there is none.
    /// </summary>
    public Error? Refused => _refusals.Refused;

    public void Publish(InstanceEntry entry) => Produce(entry.Instance, entry.Serialize());

    /// <summary>Removes <paramref name="instance"/> from the directory (a tombstone).</summary>
    public void Remove(string instance) => Produce(instance, null);

    /// <summary>Waits up to <paramref name="timeout"/> for what was published to be delivered; false if some was not.</summary>
    public bool Flush(TimeSpan timeout) => _producer.Flush(timeout) == 0;

    /// <summary>Applies what arrives within <paramref name="wait"/> (then what is already fetched) to <paramref name="directory"/>; returns the records read.</summary>
    public int Poll(TimeSpan wait, InstanceDirectory directory)
    {
        var read = 0;
        try
        {
            for (var record = _consumer.Consume(wait); record is not null; record = _consumer.Consume(TimeSpan.Zero))
            {
                read++;
                _records.Apply(record.TopicPartitionOffset, record.Message.Key, record.Message.Value, directory);
            }
        }
        catch (KafkaException e)
        {
            _refusals.Note(e.Error);
            throw;
        }

        _refusals.ThrowIfRefused();
        return read;
    }

    private void Produce(string instance, byte[]? value)
        => _producer.Produce(_topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(instance), Value = value! }, report =>
        {
            _refusals.Note(report.Error);
            if (report.Error.IsError && Refused is null)
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
