using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.Kafka;

/// <summary>Reads the <c>SignalPipeline.Kafka</c> meter's observable instruments as an exporter would.</summary>
internal sealed class KafkaMetricCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Instrument, string Client, string? Topic, string? Partition), long> _latest = new();

    public KafkaMetricCollector()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == KafkaMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? client = null, topic = null, partition = null;
            foreach (var tag in tags)
            {
                switch (tag.Key)
                {
                    case "messaging.client.id": client = tag.Value as string; break;
                    case "messaging.destination.name": topic = tag.Value as string; break;
                    case "messaging.destination.partition.id": partition = tag.Value as string; break;
                }
            }

            _latest[(instrument.Name, client ?? "", topic, partition)] = value;
        });
        _listener.Start();
    }

    public long? Latest(string instrument, string client)
    {
        _listener.RecordObservableInstruments();
        return _latest.TryGetValue((instrument, client, null, null), out var value) ? value : null;
    }

    public long? Lag(string client, string topic, string partition)
    {
        _listener.RecordObservableInstruments();
        return _latest.TryGetValue((KafkaMetrics.ConsumerLag, client, topic, partition), out var value) ? value : null;
    }

    public void Dispose() => _listener.Dispose();
}
