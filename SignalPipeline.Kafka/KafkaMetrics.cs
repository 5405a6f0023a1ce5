using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace SignalPipeline.Kafka;

/// <summary>
/// librdkafka's statistics (the JSON each client emits every <c>statistics.interval.ms</c>) as OpenTelemetry metrics on
/// the <c>SignalPipeline.Kafka</c> meter: messages and bytes produced and consumed (cumulative, per client) and consumer
/// lag per assigned partition. <see cref="KafkaClientFactory"/> feeds every client it builds into here through
/// <see cref="Post"/>, which only enqueues: the JSON is parsed by a background reader, never on the client's thread.
/// </summary>
public sealed class KafkaMetrics : IDisposable
{
    public const string MeterName = "SignalPipeline.Kafka";

    public const string ProducedMessages = "signalpipeline.kafka.produced.messages";
    public const string ProducedBytes = "signalpipeline.kafka.produced.bytes";
    public const string ConsumedMessages = "signalpipeline.kafka.consumed.messages";
    public const string ConsumedBytes = "signalpipeline.kafka.consumed.bytes";
    public const string ConsumerLag = "signalpipeline.kafka.consumer.lag";
    public const string StatisticsDropped = "signalpipeline.kafka.statistics.dropped";

    private readonly Meter _meter;
    private readonly ConcurrentDictionary<string, ClientStatistics> _clients = new();
    private readonly TimeProvider _time;
    private readonly KafkaStatisticsQueue _queue;

    public KafkaMetrics(IMeterFactory? meterFactory = null, TimeProvider? time = null, ILogger<KafkaMetrics>? logger = null)
        : this(meterFactory, time, logger, KafkaStatisticsQueue.DefaultCapacity, startReader: true)
    {
    }

    /// <summary>For tests: a queue of <paramref name="queueCapacity"/> whose reader starts with <see cref="StartReading"/> unless <paramref name="startReader"/>.</summary>
    internal KafkaMetrics(IMeterFactory? meterFactory, TimeProvider? time, ILogger? logger, int queueCapacity, bool startReader)
    {
        _time = time ?? TimeProvider.System;
        _queue = new KafkaStatisticsQueue(
            s => Record(s.Json, s.GroupId, s.Interval),
            e => logger?.LogWarning(e, "Unreadable librdkafka statistics"),
            queueCapacity, startReader);
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _meter.CreateObservableCounter(ProducedMessages, () => Observe(c => c.TransmittedMessages), "{message}",
            "Messages a producer has delivered to the brokers (librdkafka txmsgs).");
        _meter.CreateObservableCounter(ProducedBytes, () => Observe(c => c.TransmittedBytes), "By",
            "Message bytes a producer has delivered to the brokers (librdkafka txmsg_bytes).");
        _meter.CreateObservableCounter(ConsumedMessages, () => Observe(c => c.ReceivedMessages), "{message}",
            "Messages a consumer has fetched (librdkafka rxmsgs).");
        _meter.CreateObservableCounter(ConsumedBytes, () => Observe(c => c.ReceivedBytes), "By",
            "Message bytes a consumer has fetched (librdkafka rxmsg_bytes).");
        _meter.CreateObservableGauge(ConsumerLag, ObserveLag, "{message}",
            "Messages between the offset a consumer committed and the partition's end (high watermark, or last stable offset under read_committed; librdkafka consumer_lag).");
        _meter.CreateObservableCounter(StatisticsDropped, () => _queue.Dropped, "{document}",
            "Statistics documents dropped unparsed because the background reader was behind (each is superseded by the client's next).");
    }

    /// <summary>
    /// Queues one statistics JSON document for the background reader; returns at once (call it from librdkafka's statistics
    /// handler). The oldest queued document is dropped when the reader is behind.
    /// </summary>
    public void Post(string json, string? groupId, TimeSpan interval) => _queue.Post(json, groupId, interval);

    internal void StartReading() => _queue.Start();

    /// <summary>Parses and stores one statistics JSON document from a client, on the caller's thread (see <see cref="Post"/>).</summary>
    /// <param name="json">What librdkafka's statistics handler received.</param>
    /// <param name="groupId">The consumer group, for the lag's tags (librdkafka's statistics do not name it).</param>
    /// <param name="interval">The client's statistics interval: a client silent for three of them is forgotten.</param>
    public void Record(string json, string? groupId, TimeSpan interval)
    {
        var statistics = ClientStatistics.Parse(json, groupId, _time.GetUtcNow() + 3 * interval);
        _clients[statistics.Name] = statistics;
    }

    private IEnumerable<Measurement<long>> Observe(Func<ClientStatistics, long> value)
    {
        foreach (var client in Current())
        {
            yield return new Measurement<long>(value(client), client.Tags);
        }
    }

    private IEnumerable<Measurement<long>> ObserveLag()
    {
        foreach (var client in Current())
        {
            foreach (var lag in client.Lags)
            {
                yield return new Measurement<long>(lag.Lag,
                    [
                        .. client.Tags,
                        new("messaging.destination.name", lag.Topic),
                        new("messaging.destination.partition.id", lag.Partition),
                        new("messaging.consumer.group.name", client.GroupId),
                    ]);
            }
        }
    }

    private IEnumerable<ClientStatistics> Current()
    {
        var now = _time.GetUtcNow();
        foreach (var (name, client) in _clients)
        {
            if (client.ExpiresAt < now)
            {
                _clients.TryRemove(name, out _);
                continue;
            }

            yield return client;
        }
    }

    public void Dispose()
    {
        _queue.Dispose();
        _meter.Dispose();
    }

    internal sealed record PartitionLag(string Topic, string Partition, long Lag);

    internal sealed record ClientStatistics(
        string Name, string ClientId, string Type, string? GroupId,
        long TransmittedMessages, long TransmittedBytes, long ReceivedMessages, long ReceivedBytes,
        IReadOnlyList<PartitionLag> Lags, DateTimeOffset ExpiresAt)
    {
        public KeyValuePair<string, object?>[] Tags { get; } =
        [
            new("messaging.system", "kafka"),
            new("messaging.client.id", Name),
            new("kafka.client.type", Type),
        ];

        public static ClientStatistics Parse(string json, string? groupId, DateTimeOffset expiresAt)
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var lags = new List<PartitionLag>();
            if (root.TryGetProperty("topics", out var topics) && topics.ValueKind == JsonValueKind.Object)
            {
                foreach (var topic in topics.EnumerateObject())
                {
                    if (!topic.Value.TryGetProperty("partitions", out var partitions) || partitions.ValueKind != JsonValueKind.Object)
                    {
                        continue;
                    }

                    foreach (var partition in partitions.EnumerateObject())
                    {
                        // -1 is librdkafka's internal "unassigned" partition; a lag of -1 means not known (not fetching).
                        if (partition.Name == "-1" || Number(partition.Value, "consumer_lag") is not long lag || lag < 0)
                        {
                            continue;
                        }

                        lags.Add(new PartitionLag(topic.Name, partition.Name, lag));
                    }
                }
            }

            return new ClientStatistics(
                Text(root, "name") ?? "unknown", Text(root, "client_id") ?? "", Text(root, "type") ?? "", groupId,
                Number(root, "txmsgs") ?? 0, Number(root, "txmsg_bytes") ?? 0,
                Number(root, "rxmsgs") ?? 0, Number(root, "rxmsg_bytes") ?? 0,
                lags, expiresAt);
        }

        private static string? Text(JsonElement element, string name)
            => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

        private static long? Number(JsonElement element, string name)
            => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : null;
    }
}
