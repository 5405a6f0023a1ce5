using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>What the <c>kafka</c> resource is backed by.</summary>
public enum KafkaBrokerKind
{
    /// <summary>A cluster the user runs; its address came from configuration.</summary>
    Existing,

    /// <summary>A KRaft Kafka container (needs a container runtime; always the choice when publishing).</summary>
    Container,

    /// <summary>The embedded dev broker project (librdkafka's in-memory mock cluster).</summary>
    DevBroker,
}

/// <summary>
/// Which Kafka the AppHost uses and why. A pure function of its inputs so each case is testable without a
/// container runtime; the only side effect (asking the runtime) is behind <c>containerRuntimeAvailable</c>,
/// which is called only when the answer matters.
/// </summary>
public sealed record KafkaResourceChoice(KafkaBrokerKind Kind, string Reason, string? ConnectionString = null)
{
    /// <summary>Overrides the automatic choice in run mode: <c>auto</c> (default), <c>dev</c> or <c>container</c>.</summary>
    public const string BrokerSetting = "Kafka:Broker";

    public const string BrokersVariable = "KAFKA_BROKERS";

    public static KafkaResourceChoice Decide(
        string name,
        DistributedApplicationExecutionContext executionContext,
        IConfiguration configuration,
        Func<bool> containerRuntimeAvailable)
    {
        if (executionContext.IsPublishMode)
        {
            return new(KafkaBrokerKind.Container, "publish mode: the manifest describes a real Kafka broker");
        }

        if (configuration.GetConnectionString(name) is { Length: > 0 } connectionString && !string.IsNullOrWhiteSpace(connectionString))
        {
            return new(KafkaBrokerKind.Existing, $"ConnectionStrings:{name} is set", connectionString.Trim());
        }

        if (configuration[BrokersVariable] is { } brokers && !string.IsNullOrWhiteSpace(brokers))
        {
            return new(KafkaBrokerKind.Existing, $"{BrokersVariable} is set", brokers.Trim());
        }

        var requested = configuration[BrokerSetting]?.Trim();
        if (string.Equals(requested, "dev", StringComparison.OrdinalIgnoreCase))
        {
            return new(KafkaBrokerKind.DevBroker, $"{BrokerSetting}=dev");
        }

        if (string.Equals(requested, "container", StringComparison.OrdinalIgnoreCase))
        {
            return new(KafkaBrokerKind.Container, $"{BrokerSetting}=container");
        }

        if (!string.IsNullOrEmpty(requested) && !string.Equals(requested, "auto", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"{BrokerSetting} must be 'auto', 'dev' or 'container', not '{requested}'.");
        }

        return containerRuntimeAvailable()
            ? new(KafkaBrokerKind.Container, "a container runtime is available")
            : new(KafkaBrokerKind.DevBroker, "no container runtime is available");
    }
}
