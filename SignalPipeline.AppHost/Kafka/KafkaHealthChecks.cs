using Confluent.Kafka;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aspire.Hosting;

/// <summary>
/// The AppHost's readiness checks for a Kafka it does not run itself (container or existing cluster).
/// <see cref="RequireProduce"/> mirrors Aspire.Hosting.Kafka (AspNetCore.HealthChecks.Kafka): healthy once a produce is
/// acknowledged, which a booting broker refuses even after it accepts connections.
/// </summary>
/// <param name="clientProperties">The AppHost's <c>Kafka:Client</c> settings (security), as the services get them.</param>
public sealed class KafkaBrokerHealthCheck(
    Func<string?> bootstrapServers, bool requireProduce, IEnumerable<KeyValuePair<string, string>>? clientProperties = null) : IHealthCheck, IDisposable
{
    public const string HealthTopic = "signal-pipeline-health";

    private readonly Lock _gate = new();
    private IProducer<string, string>? _producer;

    public bool RequireProduce => requireProduce;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (bootstrapServers() is not { Length: > 0 } servers)
        {
            return HealthCheckResult.Unhealthy("The Kafka address is not known yet.");
        }

        try
        {
            var producer = Producer(servers);
            if (requireProduce)
            {
                await producer.ProduceAsync(HealthTopic, new Message<string, string> { Key = "health", Value = DateTimeOffset.UtcNow.ToString("O") }, cancellationToken);
            }
            else
            {
                using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
                admin.GetMetadata(TimeSpan.FromSeconds(5));
            }

            return HealthCheckResult.Healthy();
        }
        catch (KafkaException ex)
        {
            return HealthCheckResult.Unhealthy($"Kafka at {servers}: {ex.Error.Reason}", ex);
        }
    }

    private IProducer<string, string> Producer(string servers)
    {
        lock (_gate)
        {
            if (_producer is not null)
            {
                return _producer;
            }

            var config = new ProducerConfig(clientProperties?.ToDictionary() ?? [])
            {
                BootstrapServers = servers,
                ClientId = "apphost-health",
                MessageTimeoutMs = 5000,
                SocketTimeoutMs = 5000,
                AllowAutoCreateTopics = true,
            };
            return _producer = new ProducerBuilder<string, string>(config).SetLogHandler((_, _) => { }).Build();
        }
    }

    public void Dispose() => _producer?.Dispose();
}
