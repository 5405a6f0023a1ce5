using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.Kafka;

/// <summary>
/// Every client a service builds is named after the service (<c>client.id</c>): until 2026-12-04 all were librdkafka's
/// <c>rdkafka</c>, so a log line (<c>[rdkafka#producer-4]</c>) or a group member on the broker did not say whose it was.
/// </summary>
public sealed class KafkaClientIdTests
{
    private static KafkaClientFactory Factory(Dictionary<string, string?> settings, string applicationName = "FilterKafkaProcessor")
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = applicationName, DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(settings) { ["ConnectionStrings:kafka"] = "127.0.0.1:1" });
        builder.AddKafkaClients();
        return builder.Build().Services.GetRequiredService<KafkaClientFactory>();
    }

    [Fact]
    public void Every_client_is_named_after_the_service_and_its_logs_say_so()
    {
        var factory = Factory(new() { [KafkaSettings.ServiceNameVariable] = "filter-kafka-processor", [KafkaSettings.StatisticsIntervalSetting] = "0" });

        Assert.Equal("filter-kafka-processor", factory.CreateProducerConfig().ClientId);
        Assert.Equal("filter-kafka-processor", factory.CreateConsumerConfig("group").ClientId);
        Assert.Equal("filter-kafka-processor", factory.CreateAdminClientConfig().ClientId);

        // librdkafka's handle name, which prefixes each of the client's log lines and tags its metrics.
        using var producer = factory.CreateProducer<byte[], byte[]>();
        Assert.StartsWith("filter-kafka-processor#producer-", producer.Name);
    }

    [Fact]
    public void Without_a_service_name_the_application_name_is_used_and_the_client_section_still_wins()
    {
        Assert.Equal("WebSocketBridge", Factory([], "WebSocketBridge").CreateConsumerConfig("group").ClientId);

        var factory = Factory(new() { [KafkaSettings.ServiceNameVariable] = "websocket-bridge", [$"{KafkaSettings.ClientSection}:client.id"] = "bridge-7" });
        Assert.Equal("bridge-7", factory.CreateConsumerConfig("group").ClientId);
        Assert.Equal("bridge-7", factory.CreateProducerConfig().ClientId);
    }

    [Fact]
    public void The_clis_clients_are_named_signal_pipeline_unless_the_environment_names_them()
    {
        // What `kafka tail`, `lag`, `streams config` and the other verbs build their clients with (they were `rdkafka`).
        // The test process's own OTEL_SERVICE_NAME, if a runner sets one, names them as it would a verb's.
        var expected = Environment.GetEnvironmentVariable(KafkaSettings.ServiceNameVariable) is { Length: > 0 } name && name.Trim().Length > 0
            ? name.Trim()
            : KafkaConnection.ClientId;
        var factory = KafkaConnection.CreateFactory("127.0.0.1:1", TextWriter.Null);
        using (var consumer = factory.CreateConsumer<byte[], byte[]>("group"))
        {
            Assert.StartsWith($"{expected}#consumer-", consumer.Name);
        }

        Assert.Equal(expected, factory.CreateAdminClientConfig().ClientId);
        Assert.Equal("signal-pipeline", KafkaConnection.ClientId);

        // `kafka topics` and the bench name theirs the same way; a service name (OTEL_SERVICE_NAME) is kept.
        var unnamed = new KafkaSettings("127.0.0.1:1");
        Assert.Equal("signal-pipeline", KafkaConnection.Named(unnamed).ClientId);
        Assert.Equal("signal-pipeline-bench", KafkaConnection.Named(unnamed, KafkaConnection.BenchClientId).ClientId);
        Assert.Equal("ops-job", KafkaConnection.Named(unnamed with { ClientId = "ops-job" }).ClientId);
    }

    [Fact]
    public void Settings_read_without_a_host_leave_librdkafkas_default_unless_the_service_name_is_set()
    {
        IConfiguration Config(string? name) => new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:kafka"] = "127.0.0.1:1",
            [KafkaSettings.ServiceNameVariable] = name,
        }).Build();

        Assert.Null(KafkaSettings.FromConfiguration(Config(null)).ClientId);
        Assert.Null(new ProducerConfig { ClientId = KafkaSettings.FromConfiguration(Config(" ")).ClientId }.Get("client.id"));
        Assert.Equal("signal-generator", KafkaSettings.FromConfiguration(Config(" signal-generator ")).ClientId);
    }
}
