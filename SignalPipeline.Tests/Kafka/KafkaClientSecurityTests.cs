using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary>One <c>Kafka:Client</c> section reaches every kind of client the project builds.</summary>
public sealed class KafkaClientSecurityTests
{
    private static readonly Dictionary<string, string?> SaslSsl = new()
    {
        ["Kafka:Client:security.protocol"] = "SASL_SSL",
        ["Kafka:Client:sasl.mechanism"] = "SCRAM-SHA-512",
        ["Kafka:Client:sasl.username"] = "pipeline",
        ["Kafka:Client:sasl.password"] = "s3cret",
        ["Kafka:Client:ssl.ca.location"] = "/etc/kafka-client/ca.crt",
    };

    private static void AssertSecured(ClientConfig config)
    {
        // As written in configuration (librdkafka reads the values case-insensitively).
        Assert.Equal("SASL_SSL", config.Get("security.protocol"));
        Assert.Equal("SCRAM-SHA-512", config.Get("sasl.mechanism"));
        Assert.Equal("pipeline", config.SaslUsername);
        Assert.Equal("s3cret", config.SaslPassword);
        Assert.Equal("/etc/kafka-client/ca.crt", config.SslCaLocation);
    }

    [Fact]
    public void ProducerConsumerAndAdminConfigsCarryTheClientSection()
    {
        var factory = KafkaTestClients.CreateFactory("broker:9092", SaslSsl);

        AssertSecured(factory.CreateProducerConfig());
        AssertSecured(factory.CreateConsumerConfig("group"));
        AssertSecured(factory.CreateAdminClientConfig());
    }

    [Fact]
    public void KindSpecificSectionsAndTheCallerStillWin()
    {
        var factory = KafkaTestClients.CreateFactory("broker:9092", new Dictionary<string, string?>(SaslSsl)
        {
            ["Kafka:Consumer:sasl.username"] = "reader",
        });

        Assert.Equal("reader", factory.CreateConsumerConfig("group").SaslUsername);
        Assert.Equal("pipeline", factory.CreateProducerConfig().SaslUsername);
        Assert.Equal("caller", factory.CreateAdminClientConfig(c => c.SaslUsername = "caller").SaslUsername);
    }

    [Fact]
    public void ClientsBuiltOutsideTheFactoryTakeItFromTheEnvironment()
    {
        // The bench's and the CLI's own clients: Kafka__Client__* environment variables.
        const string variable = "Kafka__Client__sasl.username";
        var before = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, "from-env");
        try
        {
            var config = KafkaClientProperties.ApplyFromEnvironment(new ProducerConfig { BootstrapServers = "broker:9092" });
            Assert.Equal("from-env", config.SaslUsername);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, before);
        }
    }
}

/// <summary>
/// The same section against librdkafka's own mock cluster (<c>test.mock.num.brokers</c>, in process): Integration, as
/// docs/testing.md counts a broker of any kind (<c>TestCategoryTests</c>).
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class KafkaClientSecurityBrokerTests
{
    /// <summary>
    /// A consumer's group is its caller's (docs/kafka.md, "Client setup"): a <c>group.id</c> in <c>Kafka:Client</c> or
    /// <c>Kafka:Consumer</c> is ignored, named in one warning per factory (per service). Until 2026-12-05 it replaced every
    /// caller's group: the processor's group and its readers' became one, and <c>kafka groups --group X</c> read another.
    /// Producers and admin clients do not get it at all (librdkafka would warn about it for each).
    /// </summary>
    [Theory]
    [InlineData("Kafka:Consumer:group.id")]
    [InlineData("Kafka:Client:group.id")]
    public void AGroupIdInTheSectionsIsIgnoredForTheCallersOwnWithOneWarningNamingIt(string setting)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:kafka"] = "broker:9092",
            [setting] = "shared",
        }).Build();
        var log = new ErrorLog(LogLevel.Warning);
        using var loggers = LoggerFactory.Create(b => b.AddProvider(log));
        var factory = new KafkaClientFactory(configuration, loggers, KafkaSettings.FromConfiguration(configuration));

        Assert.Equal("filter-kafka-processor", factory.CreateConsumerConfig("filter-kafka-processor").GroupId);
        Assert.Equal("filter-kafka-processor-restore", factory.CreateConsumerConfig("filter-kafka-processor-restore").GroupId);
        Assert.Null(factory.RefusedSetting());

        // Producers and admin clients have no group: a group.id in Kafka:Client reached them too, and librdkafka warned
        // once more for each ("CONFWARN ... group.id is a consumer property and will be ignored by this producer
        // instance"), so the one warning the doc promises became one per client (seen on the bridge's built output).
        Assert.DoesNotContain(factory.CreateProducerConfig(), p => p.Key == "group.id");
        Assert.DoesNotContain(factory.CreateAdminClientConfig(), p => p.Key == "group.id");
        // librdkafka's own mock cluster (test.mock.num.brokers): the clients have a cluster to talk to and log no errors.
        using (factory.CreateProducer<byte[], byte[]>(c => c.Set("test.mock.num.brokers", "1")))
        using (factory.CreateAdminClient(c => c.Set("test.mock.num.brokers", "1")))
        {
        }

        var warning = Assert.Single(log.Entries);
        Assert.StartsWith($"{setting} = 'shared' is ignored: each of this service's consumers reads under the group the service gives it (this one filter-kafka-processor)", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheHealthChecksAdminClientUsesTheClientSection()
    {
        // test.mock.num.brokers in Kafka:Client gives the client a librdkafka mock cluster of its own instead of the
        // (unreachable) bootstrap address: the check is healthy only if its admin client took the section.
        const string unreachable = "127.0.0.1:1";
        using var without = new KafkaHealthCheck(KafkaTestClients.CreateFactory(unreachable));
        using var with = new KafkaHealthCheck(KafkaTestClients.CreateFactory(unreachable, new Dictionary<string, string?>
        {
            ["Kafka:Client:test.mock.num.brokers"] = "1",
        }));

        var unhealthy = await without.CheckHealthAsync(new()).WaitAsync(TimeSpan.FromSeconds(30));
        var healthy = await with.CheckHealthAsync(new()).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.Equal(HealthStatus.Healthy, healthy.Status);
    }
}
