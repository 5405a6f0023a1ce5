using System.Diagnostics.Metrics;

namespace WebSocketBridge.FilterState;

/// <summary>The filter-state view's instruments, on the bridge's meter (<see cref="BridgeMetrics.MeterName"/>).</summary>
public sealed class FilterStateMetrics
{
    private readonly Counter<long> _requests;
    private readonly Counter<long> _calls;
    private readonly Histogram<double> _callDuration;

    public FilterStateMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(BridgeMetrics.MeterName);
        _requests = meter.CreateCounter<long>("signalpipeline.bridge.filter_state.requests", "{request}",
            "GET /streams/{id}/filter answers, by result (ok, not_found, unavailable, timeout, busy, streams_limit, address_rate, not_configured, invalid).");
        _calls = meter.CreateCounter<long>("signalpipeline.bridge.filter_state.calls", "{call}",
            "Calls made to the processor's GET /streams/{id}, by result (ok, not_found, unavailable, timeout, too_large); the rest were served from the cache.");
        _callDuration = meter.CreateHistogram<double>("signalpipeline.bridge.filter_state.call.duration", "ms",
            "Time of one call to the processor's GET /streams/{id}.");
    }

    public void Request(string result) => _requests.Add(1, new KeyValuePair<string, object?>("result", result));

    public void Call(string result, double milliseconds)
    {
        _calls.Add(1, new KeyValuePair<string, object?>("result", result));
        _callDuration.Record(milliseconds);
    }
}
