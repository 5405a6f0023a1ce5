using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.AppHost;

/// <summary>
/// The AppHost's model (built, not started): a container or an existing cluster gets a <c>kafka-topics</c> resource that
/// the services wait for, and every Kafka-using resource gets the AppHost's <c>Kafka:Client</c> settings.
/// </summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class KafkaTopicsResourceTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    private static readonly string[] KafkaUsers = ["signal-generator", "filter-kafka-processor", "websocket-bridge", "kafka-topics"];

    [Fact]
    public async Task An_existing_cluster_gets_its_topics_ensured_before_the_services_start()
    {
        await using var builder = await TestAppHost.CreateBuilderAsync(Timeout, ["KAFKA_BROKERS=broker.example:9092", "Kafka:Topics:Partitions=24"]);

        var topics = Assert.IsType<ProjectResource>(builder.Resources.Single(r => r.Name == "kafka-topics"));
        Assert.IsType<Projects.SignalPipeline_Cli>(topics.GetProjectMetadata());
        var args = await ArgsAsync(topics);
        Assert.Equal(["kafka", "topics", "ensure", "--partitions", "24"], args);

        foreach (var name in KafkaUsers.Where(n => n != "kafka-topics"))
        {
            var waits = builder.Resources.Single(r => r.Name == name).Annotations.OfType<WaitAnnotation>().ToList();
            Assert.Contains(waits, w => w.Resource == topics && w.WaitType == WaitType.WaitForCompletion);
            Assert.Contains(waits, w => w.Resource.Name == "kafka");
        }
    }

    [Fact]
    public async Task The_dev_broker_brings_its_own_topics()
    {
        await using var builder = await TestAppHost.CreateBuilderAsync(Timeout, ["Kafka:Broker=dev"]);

        Assert.DoesNotContain(builder.Resources, r => r.Name == "kafka-topics");
    }

    [Fact]
    public async Task Every_Kafka_using_resource_gets_the_client_security_settings_and_the_topic_names()
    {
        await using var builder = await TestAppHost.CreateBuilderAsync(Timeout, [
            "KAFKA_BROKERS=broker.example:9093",
            "Kafka:Client:security.protocol=SASL_SSL",
            "Kafka:Client:sasl.mechanism=SCRAM-SHA-512",
            "Kafka:Client:sasl.username=pipeline",
            "OUTPUT_TOPIC=renamed-output",
        ]);

        foreach (var name in KafkaUsers)
        {
            var env = await EnvironmentAsync(builder, name);
            Assert.Equal("SASL_SSL", env.GetValueOrDefault("Kafka__Client__security.protocol"));
            Assert.Equal("SCRAM-SHA-512", env.GetValueOrDefault("Kafka__Client__sasl.mechanism"));
            Assert.Equal("pipeline", env.GetValueOrDefault("Kafka__Client__sasl.username"));
            Assert.Equal("renamed-output", env.GetValueOrDefault("OUTPUT_TOPIC")); // every Kafka user agrees on the names
        }

        // Services that never talk to Kafka do not get them.
        Assert.DoesNotContain((await EnvironmentAsync(builder, "filter-gateway")).Keys, k => k.StartsWith("Kafka__Client__", StringComparison.Ordinal));
    }

    /// <summary>The literal environment values the resource's callbacks set (references left out).</summary>
    internal static async Task<Dictionary<string, string>> EnvironmentAsync(IDistributedApplicationTestingBuilder builder, string name)
    {
        var values = new Dictionary<string, object>();
        var resource = builder.Resources.Single(r => r.Name == name);
        foreach (var callback in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(new EnvironmentCallbackContext(builder.ExecutionContext, resource, values)).WaitAsync(Timeout);
        }

        return values.Where(v => v.Value is string).ToDictionary(v => v.Key, v => (string)v.Value);
    }

    private static async Task<List<string>> ArgsAsync(IResource resource)
    {
        var args = new List<object>();
        foreach (var callback in resource.Annotations.OfType<CommandLineArgsCallbackAnnotation>())
        {
            await callback.Callback(new CommandLineArgsCallbackContext(args)).WaitAsync(Timeout);
        }

        return [.. args.Select(a => a.ToString()!)];
    }
}
