using System.Diagnostics.Metrics;

namespace FilterGateway;

/// <summary>The gateway's instruments, on the <c>SignalPipeline.Gateway</c> meter (exported by the service defaults).</summary>
public sealed class GatewayMetrics(IMeterFactory meterFactory)
{
    public const string MeterName = "SignalPipeline.Gateway";

    private readonly Counter<long> _rejected = meterFactory.Create(MeterName).CreateCounter<long>(
        "signalpipeline.gateway.requests.rejected", "{request}",
        "Requests the gateway answered itself, by reason (rate_limit, body_bytes, no_healthy_destination, large_requests, refusals).");

    private readonly Counter<long> _largeBodyBytes = meterFactory.Create(MeterName).CreateCounter<long>(
        "signalpipeline.gateway.large_body.bytes", "By",
        "Bytes of large requests' bodies (direction=request) and of their answers (direction=response) moved through the large-body lane, against FilterGateway:LargeRequestBytesPerSecond.");

    public void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void LargeBodyBytes(long bytes, string direction) => _largeBodyBytes.Add(bytes, new KeyValuePair<string, object?>("direction", direction));
}
