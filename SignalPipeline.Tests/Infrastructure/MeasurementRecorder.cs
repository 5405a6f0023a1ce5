using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// Records every measurement of one meter (by name) in this process, as an exporter would see them, so a test can
/// check a documented metric: <c>recorder.Sum("signalpipeline.bridge.clients.closed", ("reason", "protocol"))</c>.
/// </summary>
public sealed class MeasurementRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, KeyValuePair<string, object?>[] Tags)> _measurements = new();

    public MeasurementRecorder(string meterName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
        _listener.Start();
    }

    /// <summary>The sum of the instrument's measurements carrying all of <paramref name="tags"/> (observable ones read now).</summary>
    public double Sum(string instrument, params (string Key, object? Value)[] tags)
    {
        _listener.RecordObservableInstruments();
        return _measurements
            .Where(m => m.Instrument == instrument && tags.All(t => m.Tags.Any(kv => kv.Key == t.Key && Equals(kv.Value, t.Value))))
            .Sum(m => m.Value);
    }

    /// <summary>How many measurements the instrument recorded (a histogram's count).</summary>
    public int Count(string instrument) => _measurements.Count(m => m.Instrument == instrument);

    public void Dispose() => _listener.Dispose();
}
