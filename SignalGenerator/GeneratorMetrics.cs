using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SignalGenerator;

/// <summary>The generator's telemetry: meter and activity source "SignalPipeline.Generator".</summary>
public sealed class GeneratorMetrics
{
    public const string Name = "SignalPipeline.Generator";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Counter<long> _samples;
    private readonly Counter<long> _chunks;
    private readonly Counter<long> _deliveryErrors;
    private readonly Histogram<long> _batchChunks;
    private long _totalSamples;
    private long _lastSamples;
    private long _lastTimestamp = Stopwatch.GetTimestamp();

    public GeneratorMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _samples = meter.CreateCounter<long>("signal_generator.samples", "{sample}", "Samples produced to the input topic.");
        _chunks = meter.CreateCounter<long>("signal_generator.chunks", "{chunk}", "Chunks (records) produced to the input topic.");
        _deliveryErrors = meter.CreateCounter<long>("signal_generator.delivery_errors", "{chunk}", "Chunks the broker did not acknowledge.");
        _batchChunks = meter.CreateHistogram<long>("signal_generator.batch_size", "{chunk}", "Chunks produced per batch (one span each).");
        meter.CreateObservableGauge("signal_generator.rate", ObserveRate, "{sample}/s", "Samples produced per second since the last observation.");
    }

    public long TotalSamples => Interlocked.Read(ref _totalSamples);

    public void Produced(int chunks, long samples)
    {
        _chunks.Add(chunks);
        _samples.Add(samples);
        _batchChunks.Record(chunks);
        Interlocked.Add(ref _totalSamples, samples);
    }

    public void DeliveryFailed() => _deliveryErrors.Add(1);

    private double ObserveRate()
    {
        var now = Stopwatch.GetTimestamp();
        var total = TotalSamples;
        var seconds = Stopwatch.GetElapsedTime(Interlocked.Exchange(ref _lastTimestamp, now), now).TotalSeconds;
        var delta = total - Interlocked.Exchange(ref _lastSamples, total);
        return seconds > 0 ? delta / seconds : 0;
    }
}
