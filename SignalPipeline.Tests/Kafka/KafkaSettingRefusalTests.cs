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

    /// <summary>
    /// Security settings that do not go together are refused by librdkafka in words without "configuration property"
    /// ("sasl.username and sasl.password must be set", "ssl.ca.location failed: ..."); docs/kafka.md promises one line
    /// naming the setting for these too. Until 2026-12-05 the bridge stopped with librdkafka's text alone (seen on its
    /// built output: <c>crit: the service stopped: sasl.username and sasl.password must be set</c>).
    /// </summary>
    [Theory]
    [InlineData("Kafka__Client__sasl.username", "security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512", "sasl.username=pipeline")]
    [InlineData("Kafka__Client__sasl.mechanism or Kafka__Client__security.protocol", "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN")]
    [InlineData("Kafka__Client__ssl.ca.location", "security.protocol=SSL", "ssl.ca.location=/nonexistent/ca.crt")]
    public void SecuritySettingsThatDoNotGoTogetherAreNamed(string named, params string[] settings)
    {
        var values = settings.Select(s => s.Split('=', 2)).ToDictionary(kv => $"Kafka:Client:{kv[0]}", kv => (string?)kv[1]);
        values["KAFKA_BROKERS"] = "127.0.0.1:1";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        using var factory = new KafkaClientFactory(configuration, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
            KafkaSettings.FromConfiguration(configuration));

        var refused = factory.RefusedSetting();

        Assert.NotNull(refused);
        Assert.StartsWith($"{named}: ", refused);
    }
}
