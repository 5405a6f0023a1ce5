using System.Diagnostics.Metrics;

namespace FilterService;

/// <summary>The service's instruments, on the <c>SignalPipeline.FilterService</c> meter (exported by the service defaults).</summary>
public sealed class FilterServiceMetrics
{
    public const string MeterName = "SignalPipeline.FilterService";

    private readonly Meter _meter;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _abandoned;
    private int _active;
    private int _queued;

    public FilterServiceMetrics(IMeterFactory meterFactory)
    {
        var meter = _meter = meterFactory.Create(MeterName);
        _rejected = meter.CreateCounter<long>("signalpipeline.filter.requests.rejected", "{request}",
            "Requests refused by a limit, by limit (body_bytes, batch_items, samples, state_bytes, media_type, concurrency, timeout, body_timeout, waiting_body_bytes).");
        _abandoned = meter.CreateCounter<long>("signalpipeline.filter.requests.abandoned", "{request}",
            "Requests whose client went away before the answer; their filtering stopped there.");
        meter.CreateObservableGauge("signalpipeline.filter.requests.active", () => Volatile.Read(ref _active), "{request}",
            "Filter requests holding one of the FilterService:MaxConcurrentRequests slots.");
        meter.CreateObservableGauge("signalpipeline.filter.requests.queued", () => Volatile.Read(ref _queued), "{request}",
            "Filter requests waiting for a slot.");
        meter.CreateObservableGauge("signalpipeline.filter.ls_cache.bytes", () => SignalPipeline.Filters.FilterCaches.LsCoefficientBytes, "By",
            "Bytes of least-squares coefficient rows cached for all ls filters of the process (at most 32 MiB, then emptied).");
    }

    /// <summary>The gauge of bytes held by bodies read ahead of their slot (<see cref="BodyBudget"/>).</summary>
    public void ObserveWaitingBodyBytes(Func<long> taken)
        => _meter.CreateObservableGauge("signalpipeline.filter.requests.waiting_body_bytes", taken, "By",
            "Bytes of small request bodies read ahead of their slot (arriving, or waiting for a slot); at most FilterService:MaxWaitingBodyBytes.");

    public void Rejected(string limit) => _rejected.Add(1, new KeyValuePair<string, object?>("limit", limit));

    public void Abandoned() => _abandoned.Add(1);

    public void Active(int delta) => Interlocked.Add(ref _active, delta);

    /// <summary>Requests holding a slot now.</summary>
    public int ActiveRequests => Volatile.Read(ref _active);

    public void Queued(int delta) => Interlocked.Add(ref _queued, delta);
}
