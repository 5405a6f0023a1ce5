using Confluent.Kafka;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using SignalPipeline.Kafka;

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
