using System.Diagnostics.Metrics;

namespace FilterGateway;

/// <summary>The gateway's instruments, on the <c>SignalPipeline.Gateway</c> meter (exported by the service defaults).</summary>
public sealed class GatewayMetrics(IMeterFactory meterFactory)
{
    public const string MeterName = "SignalPipeline.Gateway";

    private readonly Meter _meter = meterFactory.Create(MeterName);

    /// <summary>An observable gauge on the gateway's meter (the large-request lane's slots and queue).</summary>
    public void Gauge(string name, string unit, string description, Func<long> observe) => _meter.CreateObservableGauge(name, observe, unit, description);

    // The factory hands back the same meter for the same name.
    private readonly Counter<long> _rejected = meterFactory.Create(MeterName).CreateCounter<long>(
        "signalpipeline.gateway.requests.rejected", "{request}",
        "Requests the gateway answered itself, by reason (rate_limit, body_bytes, no_healthy_destination, large_requests, large_requests_per_address, refusals, probes, body_timeout).");

    /// <summary>The per-address limiters' tables (<c>rate_limit</c>, <c>refusals</c>, <c>probes</c>).</summary>
    public AddressTableInstruments Addresses { get; } = new(meterFactory.Create(MeterName), "signalpipeline.gateway", "FilterGateway:MaxTrackedAddresses");

    /// <summary>The key of a table's shared overflow limiter (no client address is written so).</summary>
    public const string AddressTableOverflow = "overflow";

    private readonly Counter<long> _connectionsRejected = meterFactory.Create(MeterName).CreateCounter<long>(
        "signalpipeline.gateway.connections.rejected", "{connection}",
        "Connections the gateway closed unanswered as soon as it accepted them, by reason (address_limit: FilterGateway:MaxConnectionsPerAddress).");

    private readonly Counter<long> _forwardErrors = meterFactory.Create(MeterName).CreateCounter<long>(
        "signalpipeline.gateway.forward_errors", "{request}",
        "Requests the service failed, by reason: answered 502 or 504 (connect: not reachable after FilterGateway:ConnectRetries; service_failed: the connection broke before the answer began; timeout: silent for FilterGateway:ForwardActivityTimeout), or cut off (answer_cut: the service's answer broke off after it had begun, so the client's connection was closed).");

    public void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ForwardFailed(string reason) => _forwardErrors.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ConnectionRejected(string reason) => _connectionsRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
