using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace WebSocketBridge.Streams;

/// <summary>
/// Whether the Kafka loop reads its topic. <c>/health</c> reports ready only once every partition is assigned at a
/// known offset, so a client (or a test) that waits for health sees every chunk produced after that.
/// </summary>
public sealed class ConsumerReadiness : IHealthCheck
{
    // A struct read and written whole under the lock: health checks run rarely.
    private readonly Lock _lock = new();
    private HealthCheckResult _state = HealthCheckResult.Unhealthy("The output-topic consumer has not started.");

    public void Waiting(string why) => Set(HealthCheckResult.Unhealthy($"The output-topic consumer is waiting: {why}."));

    public void Assigned(string topic, int partitions) => Set(HealthCheckResult.Healthy($"Reading {partitions} partitions of '{topic}'."));

    public void Fail(string why) => Set(HealthCheckResult.Unhealthy($"The output-topic consumer stopped: {why}"));

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_state);
        }
    }

    private void Set(HealthCheckResult state)
    {
        lock (_lock)
        {
            _state = state;
        }
    }
}
