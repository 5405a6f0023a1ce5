using System.Diagnostics.Metrics;

namespace FilterService;

/// <summary>The service's instruments, on the <c>SignalPipeline.FilterService</c> meter (exported by the service defaults).</summary>
public sealed class FilterServiceMetrics
{
    public const string MeterName = "SignalPipeline.FilterService";

    private readonly Meter _meter;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _abandoned;
    // By lane: [0] small requests (FilterService:MaxConcurrentSmallRequests), [1] large ones (FilterService:MaxConcurrentRequests).
    private readonly int[] _active = new int[2];
    private readonly int[] _queued = new int[2];

    public FilterServiceMetrics(IMeterFactory meterFactory)
    {
        var meter = _meter = meterFactory.Create(MeterName);
        _rejected = meter.CreateCounter<long>("signalpipeline.filter.requests.rejected", "{request}",
            "Requests refused by a limit, by limit (body_bytes, batch_items, samples, state_bytes, media_type, concurrency, timeout, body_timeout, waiting_body_bytes).");
        _abandoned = meter.CreateCounter<long>("signalpipeline.filter.requests.abandoned", "{request}",
            "Requests whose client went away before the answer; their filtering stopped there.");
        meter.CreateObservableGauge("signalpipeline.filter.requests.active", () => ByLane(_active), "{request}",
            "Filter requests holding a slot, by lane (small: FilterService:MaxConcurrentSmallRequests; large: FilterService:MaxConcurrentRequests).");
        meter.CreateObservableGauge("signalpipeline.filter.requests.queued", () => ByLane(_queued), "{request}",
            "Filter requests waiting for a slot, by lane (small, large).");
        meter.CreateObservableGauge("signalpipeline.filter.ls_cache.bytes", () => SignalPipeline.Filters.FilterCaches.LsCoefficientBytes, "By",
            "Bytes of least-squares coefficient rows cached for all ls filters of the process (at most 32 MiB, then emptied).");
        meter.CreateObservableGauge("signalpipeline.filter.large_arrays.bytes", () => LargeArrayCache.Shared.CachedBytes, "By",
            "Bytes of large requests' arrays (bodies, samples in and out) kept between requests (at most 52 MiB, LargeArrayCache).");
    }

    /// <summary>The gauge of bytes held by bodies read ahead of their slot (<see cref="BodyBudget"/>).</summary>
    public void ObserveWaitingBodyBytes(Func<long> taken)
        => _meter.CreateObservableGauge("signalpipeline.filter.requests.waiting_body_bytes", taken, "By",
            "Bytes of small request bodies read ahead of their slot (arriving, or waiting for a slot); at most FilterService:MaxWaitingBodyBytes.");

    public void Rejected(string limit) => _rejected.Add(1, new KeyValuePair<string, object?>("limit", limit));

    public void Abandoned() => _abandoned.Add(1);

    public void Active(bool large, int delta) => Interlocked.Add(ref _active[large ? 1 : 0], delta);

    /// <summary>Requests holding a slot now, in either lane.</summary>
    public int ActiveRequests => Volatile.Read(ref _active[0]) + Volatile.Read(ref _active[1]);

    public void Queued(bool large, int delta) => Interlocked.Add(ref _queued[large ? 1 : 0], delta);

    private static Measurement<int>[] ByLane(int[] counts) =>
    [
        new(Volatile.Read(ref counts[0]), new KeyValuePair<string, object?>("lane", "small")),
        new(Volatile.Read(ref counts[1]), new KeyValuePair<string, object?>("lane", "large")),
    ];
}
