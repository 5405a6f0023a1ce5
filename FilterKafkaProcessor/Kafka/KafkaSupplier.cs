using Confluent.Kafka;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Kafka;

/// <summary>The real clients, built through the project's one Kafka client setup (<see cref="KafkaClientFactory"/>).</summary>
public sealed class KafkaSupplier(KafkaClientFactory kafka) : IKafkaSupplier
{
    private IAdminClient? _admin;

    /// <summary>
    /// The producer's <c>message.max.bytes</c> (librdkafka's default 1,000,000 when not set), checked: below
    /// <see cref="Streaming.ChunkLimits.MinMaxMessageBytes"/> a checkpoint could not hold an rls(64) state and a held
    /// chunk, and the service stops at start naming the setting.
    /// </summary>
    public int MaxMessageBytes
    {
        get
        {
            var value = kafka.CreateProducerConfig().MessageMaxBytes ?? Streaming.ChunkLimits.DefaultMaxMessageBytes;
            return value is >= Streaming.ChunkLimits.MinMaxMessageBytes and <= Streaming.ChunkLimits.MaxMaxMessageBytes
                ? value
                : throw new InvalidOperationException(
                    $"{KafkaSettings.ProducerSection}:message.max.bytes (or {KafkaSettings.ClientSection}:message.max.bytes) = {value} is out of range "
                    + $"[{Streaming.ChunkLimits.MinMaxMessageBytes}, {Streaming.ChunkLimits.MaxMaxMessageBytes}]: a stream's checkpoint (its filter state, up to "
                    + $"{Streaming.ChunkLimits.CheckpointReserveBytes} bytes, and its held chunks) must fit one message.");
        }
    }

    public IConsumer<byte[], byte[]> GetConsumer(string groupId, RebalanceHandlers handlers)
        => kafka.CreateConsumer<byte[], byte[]>(groupId, ConfigureConsumer, builder => builder
            .SetPartitionsAssignedHandler((_, assigned) => handlers.Assigned(assigned))
            .SetPartitionsRevokedHandler((_, revoked) => handlers.Revoked(revoked))
            .SetPartitionsLostHandler((_, lost) => handlers.Lost(lost)), handlers.Error);

    public IConsumer<byte[], byte[]> GetRestoreConsumer(string groupId, Action<Error>? onError = null)
        => kafka.CreateConsumer<byte[], byte[]>(groupId, config =>
        {
            config.IsolationLevel = IsolationLevel.ReadCommitted;
            config.EnableAutoCommit = false;
            config.EnableAutoOffsetStore = false;
            config.EnablePartitionEof = true;
            config.AutoOffsetReset = AutoOffsetReset.Earliest;

            // A restore reads whole partitions as fast as it can, but with a small prefetch: librdkafka's default queue is
            // 64 MiB per consumer, several restore side by side, and what they fetched stays in the process's RSS.
            config.FetchMaxBytes ??= 8 * 1024 * 1024;
            config.MaxPartitionFetchBytes ??= 2 * 1024 * 1024;
            config.QueuedMaxMessagesKbytes ??= 4 * 1024;

            // Its readers know the topic they assigned: without this Confluent.Kafka makes a string of each record's topic
            // name, a million of them in a restore of a million streams (docs/benchmarks.md, "Where a restore's time goes").
            if (config.Get("dotnet.consumer.consume.result.fields") is null)
            {
                config.ConsumeResultFields = "headers,timestamp";
            }
        }, onError: onError);

    public IProducer<byte[], byte[]> GetProducer(string transactionalId)
        => kafka.CreateProducer<byte[], byte[]>(config => ConfigureProducer(config, transactionalId));

    /// <summary>
    /// The group consumer's settings over the configured ones: read_committed, no auto-commit (the offsets go with each
    /// transaction), from the earliest offset when the group has none.
    /// </summary>
    public static void ConfigureConsumer(ConsumerConfig config)
    {
        config.IsolationLevel = IsolationLevel.ReadCommitted;
        config.EnableAutoCommit = false;
        config.EnableAutoOffsetStore = false;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;

        // Prefetch at most 16 MiB (librdkafka's default is 64 MiB): sixteen 1 MiB batches are ready at any time, and
        // a backlog does not sit in native memory beside a million streams' state.
        config.QueuedMaxMessagesKbytes ??= 16 * 1024;
    }

    /// <summary>
    /// The transactional producer's settings over the configured ones (docs/processor.md, Settings): <c>linger.ms</c> 2,
    /// <c>transaction.timeout.ms</c> 30000, no delivery-report fields and no topic auto-creation where <c>Kafka:Producer</c>
    /// sets none; the background poll always off.
    /// </summary>
    public static void ConfigureProducer(ProducerConfig config, string transactionalId)
    {
        config.TransactionalId = transactionalId;
        config.EnableIdempotence = true;
        config.TransactionTimeoutMs ??= 30_000;
        config.LingerMs ??= 2;

        // With .NET's background poll thread serving the delivery reports, librdkafka's flush inside
        // CommitTransaction finds its queue empty and re-checks only every 10 ms: a commit took ~11 ms on the dev
        // broker. Polled from the loop instead, the flush wakes on each report: ~1.7 ms (docs/processor.md).
        config.EnableBackgroundPoll = false;

        // The delivery reports are read for partition, offset and error only: without this Confluent.Kafka copies each
        // record's key, value, timestamp and seven headers back into managed memory (issue 14: per record, on the
        // stream thread, inside Poll and CommitTransaction).
        config.DeliveryReportFields ??= "none";

        // Every topic it writes was checked at start. A record for one deleted since must fail (the topic check then
        // stops the processor naming it, docs/processor.md "Topics changed while running"), not make a broker with
        // auto.create.topics.enable (Apache Kafka's default) create it again with the broker's defaults: a changelog
        // re-created that way is not compacted and has the default partition count. librdkafka's producer default is true.
        config.AllowAutoCreateTopics ??= false;
    }

    public int? PartitionCount(string topic) => PartitionCounts(topic)[0];

    public int?[] PartitionCounts(params string[] topics)
    {
        _admin ??= kafka.CreateAdminClient();
        // A topic there but not usable now (no leader yet, not authorised) throws, naming its error (TopicLookup.Usable).
        return [.. _admin.FindTopics(topics, TimeSpan.FromSeconds(15)).Select(info => info is { Partitions.Count: > 0 } ? info.Partitions.Count : (int?)null)];
    }

    public IReadOnlyDictionary<string, ObservedTopic> ObserveTopics(IReadOnlyList<string> names, IReadOnlyList<string> describe)
    {
        _admin ??= kafka.CreateAdminClient();
        return TopicCheck.ObserveAsync(_admin, names, describe, TimeSpan.FromSeconds(15)).GetAwaiter().GetResult();
    }

    public string BootstrapServers => kafka.Settings.BootstrapServers;
}
