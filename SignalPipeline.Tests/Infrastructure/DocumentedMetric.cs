using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// Reads a documented instrument by its exported meter and instrument name, as an exporter would, from one host only:
/// the meter scope is that host's <see cref="IMeterFactory"/>, so measurements of other hosts in the test process
/// (same meter name, same instrument name) are not seen. Asserts on the instrument's kind and unit as the docs give them.
/// </summary>
public static class DocumentedMetric
{
    /// <summary>A collector of <paramref name="instrument"/> on <paramref name="meterName"/> created by <paramref name="meterScope"/>.</summary>
    public static MetricCollector<T> Collect<T>(object meterScope, string meterName, string instrument)
        where T : struct
        => new(meterScope, meterName, instrument);

    /// <summary>
    /// The instrument exists under its documented name with the documented <paramref name="unit"/> and kind
    /// (<paramref name="kind"/> an open generic: <c>typeof(Counter&lt;&gt;)</c>, <c>typeof(ObservableGauge&lt;&gt;)</c>...).
    /// </summary>
    public static MetricCollector<T> AssertDocumented<T>(this MetricCollector<T> collector, Type kind, string? unit)
        where T : struct
    {
        var instrument = collector.Instrument;
        Assert.True(instrument is not null, "the instrument was never created under its documented name");
        Assert.Equal(kind, instrument.GetType().GetGenericTypeDefinition());
        Assert.Equal(unit, instrument.Unit);
        return collector;
    }

    /// <summary>
    /// The sum of the measurements carrying every one of <paramref name="tags"/>: of a counter's increments, or of an
    /// observable instrument's current values (read now; an observable counter reports its cumulative total).
    /// </summary>
    public static double Sum<T>(this MetricCollector<T> collector, params (string Key, object? Value)[] tags)
        where T : struct
        => Matching(collector, tags).Sum(m => Convert.ToDouble(m.Value));

    /// <summary>The measurements carrying every one of <paramref name="tags"/> (a histogram's recorded values; an observable instrument's current ones).</summary>
    public static IReadOnlyList<CollectedMeasurement<T>> Matching<T>(this MetricCollector<T> collector, params (string Key, object? Value)[] tags)
        where T : struct
    {
        if (collector.Instrument is { IsObservable: true })
        {
            collector.Clear();
            collector.RecordObservableInstruments();
        }

        return [.. collector.GetMeasurementSnapshot().Where(m => tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && Equals(v, t.Value)))];
    }

    /// <summary>The newest value of an observable gauge, read now.</summary>
    public static T Observe<T>(this MetricCollector<T> collector)
        where T : struct
    {
        collector.Clear();
        collector.RecordObservableInstruments();
        var last = collector.LastMeasurement;
        Assert.True(last is not null, $"{collector.Instrument?.Name} reported nothing");
        return last.Value;
    }
}
