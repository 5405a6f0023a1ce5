using SignalPipeline.Cli.Bench;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// <c>bench --brokers</c>, default <c>KAFKA_BROKERS</c> (docs/benchmarks.md): empty counts as unset, so the bench starts its
/// dev broker, as every other Kafka setting of the project reads an empty value. Until 2026-12-06 <c>KAFKA_BROKERS=</c>
/// (or <c>--brokers ""</c>) was a cluster named "": "error: Kafka did not answer", exit 1.
/// </summary>
public sealed class BenchClusterTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void An_empty_brokers_value_means_the_dev_broker(string? brokers) => Assert.Null(BenchCommand.Cluster(brokers));

    [Fact]
    public void A_cluster_is_used_as_given_without_surrounding_blanks() =>
        Assert.Equal("kafka-0:9092,kafka-1:9092", BenchCommand.Cluster(" kafka-0:9092,kafka-1:9092 "));
}
