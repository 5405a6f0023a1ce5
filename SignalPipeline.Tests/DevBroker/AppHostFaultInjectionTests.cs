using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>How an AppHost test turns the dev broker's fault injection on (the model only; nothing is started).</summary>
public sealed class AppHostFaultInjectionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Theory]
    [InlineData(new[] { "Kafka:Broker=dev", "Kafka:DevBroker:FaultInjection=true" }, "true")]
    [InlineData(new[] { "Kafka:Broker=dev" }, null)]
    public async Task The_AppHost_passes_Kafka_DevBroker_FaultInjection_to_the_broker(string[] args, string? expected)
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.SignalPipeline_AppHost>(args).WaitAsync(Timeout);
        var broker = (IResourceWithEnvironment)builder.Resources.Single(r => r.Name == "kafka");

        var environment = new Dictionary<string, object>();
        var context = new EnvironmentCallbackContext(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish), broker, environment);
        foreach (var callback in broker.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(context).WaitAsync(Timeout);
        }

        Assert.Equal(expected, environment.GetValueOrDefault("DevBroker__FaultInjection") as string);
    }
}
