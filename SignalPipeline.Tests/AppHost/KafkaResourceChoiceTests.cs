using Aspire.Hosting;
using Microsoft.Extensions.Configuration;

namespace SignalPipeline.Tests.AppHost;

/// <summary>Which Kafka <c>builder.AddKafka("kafka")</c> picks, for each case issue 2 lists.</summary>
public sealed class KafkaResourceChoiceTests
{
    private static readonly DistributedApplicationExecutionContext Run = new(DistributedApplicationOperation.Run);
    private static readonly DistributedApplicationExecutionContext Publish = new(DistributedApplicationOperation.Publish);

    [Fact]
    public void A_connection_string_wins_and_no_runtime_is_asked()
    {
        var choice = Decide(Run, new() { ["ConnectionStrings:kafka"] = " broker-1:9092,broker-2:9092 " }, runtime: () => throw new InvalidOperationException("asked"));

        Assert.Equal(KafkaBrokerKind.Existing, choice.Kind);
        Assert.Equal("broker-1:9092,broker-2:9092", choice.ConnectionString);
    }

    [Fact]
    public void KAFKA_BROKERS_is_an_existing_cluster()
    {
        var choice = Decide(Run, new() { ["KAFKA_BROKERS"] = "kafka.example:9092" }, runtime: () => true);

        Assert.Equal(KafkaBrokerKind.Existing, choice.Kind);
        Assert.Equal("kafka.example:9092", choice.ConnectionString);
    }

    [Fact]
    public void The_connection_string_wins_over_KAFKA_BROKERS()
    {
        var choice = Decide(Run, new() { ["ConnectionStrings:kafka"] = "a:1", ["KAFKA_BROKERS"] = "b:2" }, runtime: () => true);

        Assert.Equal("a:1", choice.ConnectionString);
    }

    [Fact]
    public void Without_a_container_runtime_it_is_the_dev_broker()
        => Assert.Equal(KafkaBrokerKind.DevBroker, Decide(Run, new(), runtime: () => false).Kind);

    [Fact]
    public void With_a_container_runtime_it_is_the_container()
        => Assert.Equal(KafkaBrokerKind.Container, Decide(Run, new(), runtime: () => true).Kind);

    [Fact]
    public void Publish_mode_is_always_the_container()
    {
        var choice = Decide(Publish, new() { ["ConnectionStrings:kafka"] = "a:1", ["Kafka:Broker"] = "dev" }, runtime: () => throw new InvalidOperationException("asked"));

        Assert.Equal(KafkaBrokerKind.Container, choice.Kind);
    }

    [Theory]
    [InlineData("dev", true, KafkaBrokerKind.DevBroker)]
    [InlineData("container", false, KafkaBrokerKind.Container)]
    [InlineData("auto", false, KafkaBrokerKind.DevBroker)]
    [InlineData("AUTO", true, KafkaBrokerKind.Container)]
    public void Kafka_Broker_overrides_the_runtime_probe(string setting, bool runtime, KafkaBrokerKind expected)
        => Assert.Equal(expected, Decide(Run, new() { ["Kafka:Broker"] = setting }, () => runtime).Kind);

    [Fact]
    public void An_unknown_Kafka_Broker_value_is_an_error_naming_the_setting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Decide(Run, new() { ["Kafka:Broker"] = "docker" }, () => true));
        Assert.Contains("Kafka:Broker", error.Message);
        Assert.Contains("'docker'", error.Message);
    }

    private static KafkaResourceChoice Decide(DistributedApplicationExecutionContext context, Dictionary<string, string?> settings, Func<bool> runtime)
        => KafkaResourceChoice.Decide("kafka", context, new ConfigurationBuilder().AddInMemoryCollection(settings).Build(), runtime);
}
