using System.ComponentModel.DataAnnotations;
using SignalPipeline.DevBroker;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>The dev broker's settings' data annotations, which the generated <c>DevBrokerOptionsValidator</c> checks at start.</summary>
public sealed class DevBrokerOptionsTests
{
    [Theory]
    [InlineData(",", "DevBroker:Topics = ',' names no topic")]
    [InlineData(" ", "DevBroker:Topics = ' ' names no topic")]
    [InlineData("", "DevBroker:Topics = '' names no topic")]
    [InlineData("sample-input,bad topic", "DevBroker:Topics: 'bad topic' is not a Kafka topic name")]
    [InlineData("sample-input,..", "DevBroker:Topics: '..' is not a Kafka topic name")]
    [InlineData("sample-input,x/y", "DevBroker:Topics: 'x/y' is not a Kafka topic name")]
    [InlineData("a1,a1,b2", "DevBroker:Topics: 'a1' is named more than once")]
    [InlineData("a1, b2 ,b2", "DevBroker:Topics: 'b2' is named more than once")]
    public void Topics_that_name_no_usable_topic_are_refused_naming_the_setting(string topics, string expected)
    {
        var errors = Validate(new DevBrokerOptions { Topics = topics });

        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("sample-input, sample-output ,my_topic.v2")]
    [InlineData("a")]
    [InlineData("a1,A1")]
    public void Topic_names_kafka_takes_pass(string topics)
    {
        Assert.Empty(Validate(new DevBrokerOptions { Topics = topics }));
        Assert.Empty(Validate(new DevBrokerOptions()));
    }

    [Fact]
    public void The_defaults_are_the_documented_ones()
    {
        // docs/kafka.md, the DevBroker settings table.
        var defaults = new DevBrokerOptions();

        Assert.Equal((9092, 8, 1, 100, false), (defaults.BootstrapPort, defaults.Partitions, defaults.Brokers, defaults.GroupInitialRebalanceDelayMs, defaults.FaultInjection));
        Assert.Equal(["sample-input", "sample-output", "sample-dlq", "filter-kafka-processor-state-changelog", "stream-config", "filter-kafka-processor-instances"],
            defaults.TopicNames);
    }

    private static List<string> Validate(DevBrokerOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return [.. results.Select(r => r.ErrorMessage ?? "")];
    }
}
