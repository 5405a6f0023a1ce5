using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.FilterKafkaProcessor;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary>
/// The instruments of docs/kafka.md's "Metrics" table, read by name from one <see cref="KafkaMetrics"/>' own meter: each
/// one's kind, unit and tags as the table gives them, and <c>signalpipeline.kafka.statistics.dropped</c>, the documents
/// dropped unparsed while the reader is behind, without client tags.
/// </summary>
public sealed class KafkaStatisticsMetricTests
{
    [Fact]
    public void Documents_dropped_while_the_reader_is_behind_are_counted_without_client_tags()
    {
        using var meters = new TestMeterFactory();
        using var metrics = new KafkaMetrics(meters, null, null, queueCapacity: 2, startReader: false);
        using var dropped = DocumentedMetric.Collect<long>(meters, KafkaMetrics.MeterName, "signalpipeline.kafka.statistics.dropped")
            .AssertDocumented(typeof(ObservableCounter<>), "{document}");
        Assert.Equal(0, dropped.Sum());

        // Five documents of one producer into a queue of two that nobody reads: the three oldest are dropped.
        for (var i = 1; i <= 5; i++)
        {
            metrics.Post($$"""{ "name": "rdkafka#producer-1", "type": "producer", "txmsgs": {{i}} }""", null, TimeSpan.FromSeconds(30));
        }

        var measurement = Assert.Single(dropped.Matching());
        Assert.Equal(3, measurement.Value);
        Assert.Empty(measurement.Tags);
        Assert.Equal(3, dropped.Sum());
    }

    [Fact]
    public void Each_instrument_has_the_kind_unit_and_tags_of_the_docs_table_and_lag_is_described_as_librdkafka_counts_it()
    {
        using var meters = new TestMeterFactory();
        using var metrics = new KafkaMetrics(meters, null, null, queueCapacity: 2, startReader: false);
        MetricCollector<long> Collect(string name, Type kind, string unit)
            => DocumentedMetric.Collect<long>(meters, KafkaMetrics.MeterName, name).AssertDocumented(kind, unit);
        using var produced = Collect("signalpipeline.kafka.produced.messages", typeof(ObservableCounter<>), "{message}");
        using var producedBytes = Collect("signalpipeline.kafka.produced.bytes", typeof(ObservableCounter<>), "By");
        using var consumed = Collect("signalpipeline.kafka.consumed.messages", typeof(ObservableCounter<>), "{message}");
        using var consumedBytes = Collect("signalpipeline.kafka.consumed.bytes", typeof(ObservableCounter<>), "By");
        using var lag = Collect("signalpipeline.kafka.consumer.lag", typeof(ObservableGauge<>), "{message}");

        metrics.Record("""
            { "name": "rdkafka#consumer-3", "type": "consumer", "rxmsgs": 40, "rxmsg_bytes": 640, "txmsgs": 0, "txmsg_bytes": 0,
              "topics": { "sample-output": { "partitions": {
                "2": { "partition": 2, "committed_offset": 10, "stored_offset": 25, "app_offset": 30, "hi_offset": 40, "consumer_lag": 30, "consumer_lag_stored": 15 } } } } }
            """, "websocket-bridge", TimeSpan.FromSeconds(30));

        (string, object?)[] client = [("messaging.system", "kafka"), ("messaging.client.id", "rdkafka#consumer-3"), ("kafka.client.type", "consumer")];
        Assert.Equal(40, consumed.Sum(client));
        Assert.Equal(640, consumedBytes.Sum(client));
        Assert.Equal(0, produced.Sum(client));
        Assert.Equal(0, producedBytes.Sum(client));
        Assert.Equal(30, lag.Sum([.. client, ("messaging.destination.name", "sample-output"), ("messaging.destination.partition.id", "2"),
            ("messaging.consumer.group.name", "websocket-bridge")]));

        // The table's words: librdkafka's consumer_lag counts from the offset the consumer committed (high watermark, or
        // the last stable offset under read_committed), not from its position: a dashboard reader must not take a lag
        // that stays up for a consumer that commits nothing (the bridge) for one that reads nothing.
        var description = lag.Instrument!.Description!;
        Assert.Contains("committed", description, StringComparison.Ordinal);
        Assert.DoesNotContain("position", description, StringComparison.Ordinal);
    }
}
