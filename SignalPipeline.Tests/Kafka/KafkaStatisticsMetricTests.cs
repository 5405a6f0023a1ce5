using System.Diagnostics.Metrics;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.FilterKafkaProcessor;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary>
/// <c>signalpipeline.kafka.statistics.dropped</c> (docs/kafka.md, "Metrics"), read by name from one
/// <see cref="KafkaMetrics"/>' own meter: the documents dropped unparsed while the reader is behind, without client tags.
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
}
