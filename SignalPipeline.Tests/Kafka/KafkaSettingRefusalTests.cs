using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.Kafka;

/// <summary>
/// A librdkafka setting it refuses is named as the user wrote it (docs/operations.md, "Exit codes"): the verbs' exit 2
/// and the services' stop at start both depend on <see cref="KafkaSettingRefusal.Describe"/> finding the setting.
/// </summary>
public sealed class KafkaSettingRefusalTests
{
    [Theory]
    [InlineData("Kafka:Producer", "acks", "abc")]
    [InlineData("Kafka:Producer", "linger.mss", "1")]
    [InlineData("Kafka:Client", "max.in.flight", "abc")]
    [InlineData("Kafka:Consumer", "max.partition.fetch.bytes", "abc")]
    public void ARefusedSettingIsNamedAsWrittenAliasesIncluded(string section, string key, string value)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([KeyValuePair.Create<string, string?>($"{section}:{key}", value)])
            .Build();

        // librdkafka's own refusal, from building a client with the setting (no broker is asked).
        var refusal = Record.Exception(() =>
        {
            var config = new ProducerConfig { BootstrapServers = "127.0.0.1:1" };
            config.Set(key, value);
            using var producer = new ProducerBuilder<byte[], byte[]>(config).Build();
        });

        Assert.NotNull(refusal);
        var described = KafkaSettingRefusal.Describe(refusal, configuration);
        Assert.NotNull(described);
        Assert.StartsWith($"{section.Replace(":", "__", StringComparison.Ordinal)}__{key}: ", described);
    }
}
