using System.Diagnostics.Metrics;

namespace FilterKafkaProcessor.Directory;

/// <summary>The directory's and the stream lookups' metrics, on the processor's meter (<see cref="ProcessorTelemetry.Name"/>).</summary>
public sealed class DirectoryTelemetry
{
    private readonly Counter<long> _lookups;
    private readonly Counter<long> _unanswered;
    private readonly Counter<long> _ignored;

    public DirectoryTelemetry(IMeterFactory meterFactory, InstanceDirectory directory)
    {
        var meter = meterFactory.Create(ProcessorTelemetry.Name);
        _lookups = meter.CreateCounter<long>("signalpipeline.processor.stream_lookups", "{request}",
            "GET /streams/{id} for a stream this instance does not hold, by outcome (forwarded, not-found, unreachable, refused).");
        _unanswered = meter.CreateCounter<long>("signalpipeline.processor.stream_queries.unanswered", "{request}",
            "Questions about the streams the stream thread did not take (StreamQueries.MaxPending waiting: reason=full) or answer in time (reason=timeout); each is a 503 unless another instance answers.");
        _ignored = meter.CreateCounter<long>("signalpipeline.processor.instances.ignored", "{record}",
            "Directory records read and ignored, by reason: invalid (no valid announcement), ahead (announced more than the entries' expiry ahead of this instance's clock), full (a new instance while the directory held InstanceDirectory.MaxEntries live entries).");
        meter.CreateObservableGauge("signalpipeline.processor.instances", () => directory.Live().Count, "{instance}",
            "Live processor instances in the directory (this one included).");
        meter.CreateObservableGauge("signalpipeline.processor.instances.entries", () => directory.Count, "{entry}",
            "Directory entries held, live or not yet pruned (at most InstanceDirectory.MaxEntries).");
    }

    public void Lookup(string outcome) => _lookups.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>A directory record ignored (<see cref="DirectoryRecords.InvalidReason"/>, <see cref="DirectoryRecords.AheadReason"/>, <see cref="DirectoryRecords.FullReason"/>).</summary>
    public void Ignored(string reason) => _ignored.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>A question the stream thread did not take (<c>full</c>) or did not answer in time (<c>timeout</c>).</summary>
    public void Unanswered(bool timedOut) => _unanswered.Add(1, new KeyValuePair<string, object?>("reason", timedOut ? "timeout" : "full"));
}
