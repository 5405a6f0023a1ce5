using Confluent.Kafka;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SignalPipeline.Kafka;

/// <summary>
/// Readiness: the cluster answers a metadata request within a few seconds. One admin client, built on first use and
/// kept, so a probe costs one request and no connection setup.
/// </summary>
public sealed class KafkaHealthCheck(KafkaClientFactory factory) : IHealthCheck, IDisposable
{
    public const string Name = "kafka";

    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    private readonly Lock _gate = new();
    private IAdminClient? _admin;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        // GetMetadata blocks; it is bounded by its timeout.
        => Task.Run(() =>
        {
            try
            {
                var metadata = Admin().GetMetadata(Timeout);
                return HealthCheckResult.Healthy($"{metadata.Brokers.Count} broker(s) at {factory.Settings.BootstrapServers}");
            }
            catch (KafkaException ex)
            {
                return HealthCheckResult.Unhealthy($"Kafka at {factory.Settings.BootstrapServers} did not answer: {ex.Error.Reason}", ex);
            }
        }, cancellationToken);

    private IAdminClient Admin()
    {
        lock (_gate)
        {
            return _admin ??= factory.CreateAdminClient();
        }
    }

    public void Dispose() => _admin?.Dispose();
}
