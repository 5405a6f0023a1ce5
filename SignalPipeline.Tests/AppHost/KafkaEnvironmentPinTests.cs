using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.AppHost;

/// <summary>
/// A machine whose environment names a Kafka (<c>KAFKA_BROKERS</c>, <c>ConnectionStrings__kafka</c>, <c>Kafka__Broker</c>)
/// still tests against the dev broker: the AppHost tests' pins (<see cref="TestAppHost"/>) win over the environment.
/// </summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class KafkaEnvironmentPinTests(KafkaEnvironmentPinTests.PoisonedApp shared, ITestOutputHelper output) : IClassFixture<KafkaEnvironmentPinTests.PoisonedApp>
{
    private readonly PoisonedApp fixture = shared.WithTestOutput(output);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    /// <summary>Unreachable on purpose: a client that used it would never deliver anything.</summary>
    public const string BogusBrokers = "bogus-kafka.invalid:1";

    /// <summary>Sets the variables in this process while <paramref name="action"/> runs (tests run one at a time here).</summary>
    private static async Task WithPoisonedEnvironmentAsync(Func<Task> action)
    {
        string[] names = ["KAFKA_BROKERS", "ConnectionStrings__kafka", "Kafka__Broker"];
        var saved = names.ToDictionary(n => n, Environment.GetEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable("KAFKA_BROKERS", BogusBrokers);
            Environment.SetEnvironmentVariable("ConnectionStrings__kafka", BogusBrokers);
            Environment.SetEnvironmentVariable("Kafka__Broker", "container");
            await action();
        }
        finally
        {
            foreach (var (name, value) in saved)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }

    /// <summary>The default app (generator on), started with the environment poisoned until its Kafka users are healthy.</summary>
    public sealed class PoisonedApp : AppHostFixture, IAsyncLifetime
    {
        async Task IAsyncLifetime.InitializeAsync() => await WithPoisonedEnvironmentAsync(async () =>
        {
            await InitializeAsync();
            foreach (var name in new[] { "kafka", "signal-generator", "filter-kafka-processor", "websocket-bridge" })
            {
                await WaitForHealthyAsync(name);
            }
        });
    }

    [Fact]
    public async Task Without_the_pins_the_environment_would_choose_the_broker()
    {
        // The control: proves the variables set here do reach the AppHost's choice, so the other tests can fail.
        await WithPoisonedEnvironmentAsync(async () =>
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.SignalPipeline_AppHost>().WaitAsync(Timeout);
            var kafka = builder.Resources.Single(r => r.Name == "kafka");
            Assert.Equal(KafkaBrokerKind.Existing, kafka.Annotations.OfType<KafkaResourceChoiceAnnotation>().Single().Choice.Kind);
        });
    }

    [Fact]
    public async Task With_the_pins_the_AppHost_chooses_the_dev_broker()
    {
        await WithPoisonedEnvironmentAsync(async () =>
        {
            await using var builder = await TestAppHost.CreateBuilderAsync(Timeout);
            var kafka = builder.Resources.Single(r => r.Name == "kafka");
            Assert.IsType<DevKafkaBrokerResource>(kafka);
            Assert.Equal(KafkaBrokerKind.DevBroker, kafka.Annotations.OfType<KafkaResourceChoiceAnnotation>().Single().Choice.Kind);
        });
    }

    [Fact]
    public async Task The_services_started_in_a_poisoned_environment_filter_through_the_dev_broker()
    {
        // Generator -> sample-input -> processor -> sample-output, all on the dev broker: output arriving there proves
        // neither the generator nor the processor went to the bogus address they inherited.
        var factory = await KafkaTestClients.CreateFactoryAsync(fixture);
        using var reader = new ConsumerLoop(factory, groupId: KafkaTestClients.NewRunId(), "sample-output", keyPrefix: "", name: "pin-reader");
        await Poll.UntilAsync(() => !reader.Received.IsEmpty, Timeout,
            () => $"a filtered chunk on the dev broker's sample-output; consumer errors: {string.Join("; ", reader.Errors)}");
    }
}
