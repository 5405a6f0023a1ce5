using System.Diagnostics.Metrics;

namespace FilterGateway;

/// <summary>The gateway's instruments, on the <c>SignalPipeline.Gateway</c> meter (exported by the service defaults).</summary>
public sealed class GatewayMetrics(IMeterFactory meterFactory)
{
    public const string MeterName = "SignalPipeline.Gateway";

    private readonly Counter<long> _rejected = meterFactory.Create(MeterName).CreateCounter<long>(
        "signalpipeline.gateway.requests.rejected", "{request}",
        "Requests the gateway answered itself, by reason (rate_limit, body_bytes, no_healthy_destination, large_requests, refusals).");

    public void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
