using Confluent.Kafka;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace SignalPipeline.DevBroker;

/// <summary>
/// Healthy once a Kafka client gets metadata through the bootstrap port and sees every configured topic: what a
/// service needs before it starts producing.
/// </summary>
public sealed class ClusterReadyHealthCheck(DevBrokerHost host, IOptions<DevBrokerOptions> options) : IHealthCheck, IDisposable
{
    private readonly Lock _gate = new();
    private IAdminClient? _admin;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (host.BootstrapServers is not { } bootstrap)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("The mock cluster has not started."));
        }

        // GetMetadata blocks; it is bounded by its timeout.
        return Task.Run(() =>
        {
            try
            {
                var metadata = Admin(bootstrap).GetMetadata(TimeSpan.FromSeconds(3));
                var missing = options.Value.TopicNames
                    .Where(topic => !metadata.Topics.Any(t => t.Topic == topic && t.Error.Code == ErrorCode.NoError))
                    .ToList();
                return missing.Count == 0
                    ? HealthCheckResult.Healthy($"{metadata.Brokers.Count} broker(s) via {bootstrap}")
                    : HealthCheckResult.Unhealthy("Topics missing: " + string.Join(", ", missing));
            }
            catch (KafkaException ex)
            {
                return HealthCheckResult.Unhealthy($"No metadata via {bootstrap}: {ex.Error.Reason}", ex);
            }
        }, cancellationToken);
    }

    private IAdminClient Admin(string bootstrap)
    {
        lock (_gate)
        {
            return _admin ??= new AdminClientBuilder(new AdminClientConfig
            {
                BootstrapServers = bootstrap,
                ClientId = "dev-broker-health",
                SocketTimeoutMs = 3000,
            }).SetLogHandler((_, _) => { }).Build();
        }
    }

    public void Dispose() => _admin?.Dispose();
}
