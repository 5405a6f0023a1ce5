using Microsoft.Extensions.Configuration;

namespace SignalPipeline.Kafka;

/// <summary>Where the Kafka cluster is. Resolved once at start; a missing value stops the service naming the settings.</summary>
public sealed record KafkaSettings(string BootstrapServers)
{
    /// <summary>The Aspire resource name, so <c>ConnectionStrings:kafka</c> is what <c>WithReference(kafka)</c> injects.</summary>
    public const string DefaultConnectionName = "kafka";

    /// <summary>The guide's setting for running outside the AppHost.</summary>
    public const string BrokersVariable = "KAFKA_BROKERS";

    public const string ProducerSection = "Kafka:Producer";
    public const string ConsumerSection = "Kafka:Consumer";

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

        return new KafkaSettings(servers.Trim());
    }
}
