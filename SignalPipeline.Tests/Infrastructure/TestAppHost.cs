using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// How every test creates the AppHost: on the embedded dev broker whatever the machine offers. Without the pin, a machine
/// with a container runtime would run the tests against a Kafka container, and one with <c>KAFKA_BROKERS</c> or
/// <c>ConnectionStrings__kafka</c> in its environment against that cluster (<see cref="KafkaResourceChoice.Decide"/>
/// puts both before <c>Kafka:Broker</c>); the tests assume the dev broker's topics and partitions.
/// </summary>
public static class TestAppHost
{
    /// <summary>Empty values count as unset for the AppHost (and for the services), so these clear inherited ones.</summary>
    public static readonly string[] KafkaPins =
    [
        $"{KafkaResourceChoice.BrokerSetting}=dev",
        $"{KafkaResourceChoice.BrokersVariable}=",
        "ConnectionStrings:kafka=",
    ];

    /// <summary>The pins, then <paramref name="args"/>: a test that asks for another broker (a later argument wins) still gets it.</summary>
    public static string[] Args(params string[] args) => [.. KafkaPins, .. args];

    /// <summary><c>DistributedApplicationTestingBuilder.CreateAsync</c> with <see cref="Args"/>, bounded.</summary>
    public static Task<IDistributedApplicationTestingBuilder> CreateBuilderAsync(TimeSpan timeout, params string[] args)
        => DistributedApplicationTestingBuilder.CreateAsync<Projects.SignalPipeline_AppHost>(Args(args)).WaitAsync(timeout);

    /// <summary>
    /// The services inherit the test process's environment (DCP passes it on): a stale <c>KAFKA_BROKERS</c> or
    /// <c>ConnectionStrings__kafka</c> there is overwritten with empty for every resource the AppHost did not give one.
    /// </summary>
    public static void ClearInheritedKafkaEnvironment(IDistributedApplicationTestingBuilder builder)
    {
        foreach (var resource in builder.Resources.OfType<IResourceWithEnvironment>())
        {
            resource.Annotations.Add(new EnvironmentCallbackAnnotation(env =>
            {
                env.TryAdd(KafkaResourceChoice.BrokersVariable, "");
                env.TryAdd("ConnectionStrings__kafka", "");
            }));
        }
    }
}
