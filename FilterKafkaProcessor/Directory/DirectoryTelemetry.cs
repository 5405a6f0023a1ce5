using System.Diagnostics.Metrics;

namespace FilterKafkaProcessor.Directory;

/// <summary>The directory's and the stream lookups' metrics, on the processor's meter (<see cref="ProcessorTelemetry.Name"/>).</summary>
public sealed class DirectoryTelemetry
{
    private readonly Counter<long> _lookups;

    public DirectoryTelemetry(IMeterFactory meterFactory, InstanceDirectory directory)
    {
        var meter = meterFactory.Create(ProcessorTelemetry.Name);
        _lookups = meter.CreateCounter<long>("signalpipeline.processor.stream_lookups", "{request}",
            "GET /streams/{id} for a stream this instance does not hold, by outcome (forwarded, not-found, unreachable, refused).");
        meter.CreateObservableGauge("signalpipeline.processor.instances", () => directory.Live().Count, "{instance}",
            "Live processor instances in the directory (this one included).");
    }

    public void Lookup(string outcome) => _lookups.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
}
