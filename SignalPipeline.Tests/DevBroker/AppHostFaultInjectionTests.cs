using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Confluent.Kafka;
using SignalPipeline.DevBroker;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>How an AppHost test turns the dev broker's fault injection on (the model only; nothing is started).</summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class AppHostFaultInjectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Theory]
    [InlineData(new[] { "Kafka:Broker=dev", "Kafka:DevBroker:FaultInjection=true" }, "DevBroker__FaultInjection", "true")]
    [InlineData(new[] { "Kafka:Broker=dev" }, "DevBroker__FaultInjection", null)]
    // The topics the AppHost renamed are the ones the broker creates, unless its own Topics setting lists them.
    [InlineData(new[] { "Kafka:Broker=dev", "INPUT_TOPIC=raw", "DLQ_TOPIC=bad" }, "DevBroker__Topics", "raw,sample-output,bad,filter-kafka-processor-state-changelog,stream-config,filter-kafka-processor-instances")]
    [InlineData(new[] { "Kafka:Broker=dev", "INPUT_TOPIC=raw", "Kafka:DevBroker:Topics=a,b" }, "DevBroker__Topics", "a,b")]
    [InlineData(new[] { "Kafka:Broker=dev" }, "DevBroker__Topics", null)]
    public async Task The_AppHost_passes_its_dev_broker_settings_to_the_broker(string[] args, string variable, string? expected)
    {
        await using var builder = await TestAppHost.CreateBuilderAsync(Timeout, args);
        var broker = (IResourceWithEnvironment)builder.Resources.Single(r => r.Name == "kafka");

        var environment = await EnvironmentOf(broker);

        Assert.Equal(expected, environment.GetValueOrDefault(variable) as string);
    }

    private static async Task<Dictionary<string, object>> EnvironmentOf(IResourceWithEnvironment resource)
    {
        var environment = new Dictionary<string, object>();
        var context = new EnvironmentCallbackContext(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish), resource, environment);
        foreach (var callback in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(context).WaitAsync(Timeout);
        }

        return environment;
    }
}

/// <summary>The running AppHost with the dev broker's fault injection on: the way the processor's chaos tests use it.</summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class AppHostFaultInjectionRunTests(AppHostFaultInjectionRunTests.App shared, ITestOutputHelper output) : IClassFixture<AppHostFaultInjectionRunTests.App>
{
    private readonly App fixture = shared.WithTestOutput(output);
    private static readonly TimeSpan Timeout = AppHostFixture.DefaultTimeout;

    public sealed class App : AppHostFixture
    {
        protected override string[] AppHostArgs => ["Kafka:Broker=dev", "Generator:Enabled=false", "Kafka:DevBroker:FaultInjection=true"];
    }

    [Fact]
    public async Task A_test_takes_the_kafka_resource_down_and_up_over_its_http_endpoint()
    {
        await fixture.WaitForHealthyAsync("kafka");
        var faults = DevBrokerFaults.For(fixture.App);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = await fixture.GetConnectionStringAsync("kafka") }).Build();
        await producer.ProduceAsync("sample-dlq", new Message<Null, string> { Value = "before" }).WaitAsync(Timeout);

        await faults.SetBrokerDownAsync(MockKafkaCluster.AllBrokers);
        var delivery = producer.ProduceAsync("sample-dlq", new Message<Null, string> { Value = "during" });
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.False(delivery.IsCompleted, "delivered while every broker was down");

        await faults.ClearAsync();
        Assert.Equal(PersistenceStatus.Persisted, (await delivery.WaitAsync(Timeout)).Status);
    }
}
