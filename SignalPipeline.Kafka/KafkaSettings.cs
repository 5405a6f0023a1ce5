using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace SignalPipeline.Kafka;

/// <summary>Where the Kafka cluster is. Resolved once at start; a missing value stops the service naming the settings.</summary>
public sealed record KafkaSettings(string BootstrapServers)
{
    /// <summary>The Aspire resource name, so <c>ConnectionStrings:kafka</c> is what <c>WithReference(kafka)</c> injects.</summary>
    public const string DefaultConnectionName = "kafka";

    /// <summary>The guide's setting for running outside the AppHost.</summary>
    public const string BrokersVariable = "KAFKA_BROKERS";

    /// <summary>
    /// librdkafka properties every client gets (producers, consumers, admin clients, health checks, the CLI and the
    /// bench): the cluster's security (<c>security.protocol</c>, <c>sasl.*</c>, <c>ssl.*</c>) and anything else common.
    /// Applied before the kind-specific sections, which may override a key.
    /// </summary>
    public const string ClientSection = "Kafka:Client";

    public const string ProducerSection = "Kafka:Producer";
    public const string ConsumerSection = "Kafka:Consumer";

    /// <summary>How often librdkafka reports statistics (exported as metrics); 0 turns them off.</summary>
    public const string StatisticsIntervalSetting = "Kafka:StatisticsIntervalMs";

    public const int DefaultStatisticsIntervalMs = 5000;

    /// <summary>librdkafka's largest <c>statistics.interval.ms</c> (a day): past it every client build fails, naming librdkafka's property, not this setting.</summary>
    public const int MaxStatisticsIntervalMs = 86_400_000;

    /// <summary>librdkafka's <c>statistics.interval.ms</c> for every client the factory builds; 0 = no statistics.</summary>
    public int StatisticsIntervalMs { get; init; } = DefaultStatisticsIntervalMs;

    /// <summary>The service's name, set by the AppHost and the Kubernetes manifests (the OpenTelemetry resource's).</summary>
    public const string ServiceNameVariable = "OTEL_SERVICE_NAME";

    /// <summary>
    /// librdkafka's <c>client.id</c> for every client the factory builds, before the <c>Kafka:Client</c> sections (which may
    /// set another): the service's name, so the clients' logs, metrics and the brokers' view of the group
    /// (<c>kafka-consumer-groups --describe</c>) say which service each is (<c>filter-kafka-processor#producer-3</c>), not
    /// librdkafka's <c>rdkafka</c> for all. Null: librdkafka's default.
    /// </summary>
    public string? ClientId { get; init; }

    /// <summary><c>ConnectionStrings:{name}</c> wins, then <c>KAFKA_BROKERS</c>.</summary>
    public static KafkaSettings FromConfiguration(IConfiguration configuration, string connectionName = DefaultConnectionName)
    {
        var servers = configuration.GetConnectionString(connectionName);
        if (string.IsNullOrWhiteSpace(servers))
        {
            servers = configuration[BrokersVariable];
        }

        if (string.IsNullOrWhiteSpace(servers))
        {
            throw new InvalidOperationException(
                $"Kafka is not configured: set ConnectionStrings:{connectionName} (the AppHost does this) or {BrokersVariable} (host:port[,host:port]).");
        }

        var statisticsInterval = DefaultStatisticsIntervalMs;
        if (configuration[StatisticsIntervalSetting] is { } text
            && (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out statisticsInterval) || statisticsInterval is < 0 or > MaxStatisticsIntervalMs))
        {
            throw new InvalidOperationException(
                $"{StatisticsIntervalSetting} must be a whole number of milliseconds in [0, {MaxStatisticsIntervalMs}] (0 turns statistics off), not '{text}'.");
        }

        var serviceName = configuration[ServiceNameVariable];
        return new KafkaSettings(servers.Trim())
        {
            StatisticsIntervalMs = statisticsInterval,
            ClientId = string.IsNullOrWhiteSpace(serviceName) ? null : serviceName.Trim(),
        };
    }
}
