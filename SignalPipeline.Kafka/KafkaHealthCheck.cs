using Confluent.Kafka;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SignalPipeline.Kafka;

/// <summary>
/// Readiness: the cluster answers a metadata request within <see cref="Timeout"/>. One admin client, built on first use
/// and kept, so a probe costs one request and no connection setup; and one request at a time: checks that come while
/// one is on its way wait for it, and a result less than <see cref="Fresh"/> old is answered at once. The request
/// blocks a thread for up to its timeout, so before, with every broker down, each <c>/health</c> blocked a thread-pool
/// thread of its own and a client asking ten a second made <c>/alive</c> take seconds (a liveness restart); now a flood
/// costs one thread and one request a second.
/// </summary>
public sealed class KafkaHealthCheck(KafkaClientFactory factory, TimeProvider? time = null) : IHealthCheck, IDisposable
{
    public const string Name = "kafka";

    /// <summary>
    /// How long the metadata request may take: under the 3 s timeout of the Kubernetes probes, so that with Kafka away a
    /// probe sees the 503 rather than its own timeout.
    /// </summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    /// <summary>How long a result is answered again without a new request.</summary>
    public static readonly TimeSpan Fresh = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private IAdminClient? _admin;
    private Task<HealthCheckResult>? _inFlight;
    private HealthCheckResult? _last;
    private long _lastAt;
    private int _requests;

    /// <summary>Metadata requests made so far.</summary>
    internal int Requests => Volatile.Read(ref _requests);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        Task<HealthCheckResult> check;
        lock (_gate)
        {
            if (_last is { } last && _inFlight is null && _time.GetElapsedTime(_lastAt) < Fresh)
            {
                return Task.FromResult(last);
            }

            // GetMetadata blocks; it is bounded by its timeout. The request clears _inFlight under this lock, after this
            // assignment.
            check = _inFlight ??= Task.Run(Request, CancellationToken.None);
        }

        return check.WaitAsync(cancellationToken);
    }

    private HealthCheckResult Request()
    {
        Interlocked.Increment(ref _requests);
        HealthCheckResult result;
        try
        {
            var metadata = Admin().GetMetadata(Timeout);
            result = HealthCheckResult.Healthy($"{metadata.Brokers.Count} broker(s) at {factory.Settings.BootstrapServers}");
        }
        catch (KafkaException ex)
        {
            result = HealthCheckResult.Unhealthy($"Kafka at {factory.Settings.BootstrapServers} did not answer: {ex.Error.Reason}", ex);
        }

        lock (_gate)
        {
            (_last, _lastAt, _inFlight) = (result, _time.GetTimestamp(), null);
        }

        return result;
    }

    private IAdminClient Admin()
    {
        lock (_gate)
        {
            return _admin ??= factory.CreateAdminClient();
        }
    }

    public void Dispose() => _admin?.Dispose();
}
