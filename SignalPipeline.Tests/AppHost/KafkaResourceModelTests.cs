using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.AppHost;

/// <summary>The AppHost's model (built, not started) holds the Kafka resource the choice asks for.</summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class KafkaResourceModelTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_connection_string_gives_a_connection_string_resource_every_service_can_reference()
    {
        var kafka = await KafkaResourceAsync("ConnectionStrings:kafka=broker.example:9092");

        var resource = Assert.IsType<ConnectionStringResource>(kafka);
        Assert.Equal("broker.example:9092", await resource.ConnectionStringExpression.GetValueAsync(default).AsTask().WaitAsync(Timeout));
        Assert.Equal(KafkaBrokerKind.Existing, Choice(kafka).Kind);
    }

    [Fact]
    public async Task The_dev_broker_is_a_project_resource_with_a_bootstrap_endpoint()
    {
        var kafka = await KafkaResourceAsync("Kafka:Broker=dev");

        var broker = Assert.IsType<DevKafkaBrokerResource>(kafka);
        Assert.IsType<Projects.SignalPipeline_DevBroker>(broker.GetProjectMetadata());
        var endpoints = broker.Annotations.OfType<EndpointAnnotation>().ToDictionary(e => e.Name);
        Assert.Equal("tcp", endpoints[DevKafkaBrokerResource.BootstrapEndpointName].UriScheme);
        Assert.Equal(KafkaExtensions.DefaultPort, endpoints[DevKafkaBrokerResource.BootstrapEndpointName].Port);
        Assert.Equal("http", endpoints[DevKafkaBrokerResource.HttpEndpointName].UriScheme);
        Assert.Contains(broker.Annotations.OfType<HealthCheckAnnotation>(), _ => true);
    }

    [Fact]
    public async Task The_container_is_a_KRaft_Kafka_image_with_Aspire_listeners()
    {
        var kafka = await KafkaResourceAsync("Kafka:Broker=container");

        var container = Assert.IsType<KafkaContainerResource>(kafka);
        var image = container.Annotations.OfType<ContainerImageAnnotation>().Single();
        Assert.Equal(KafkaContainerImage.Image, image.Image);
        var endpoints = container.Annotations.OfType<EndpointAnnotation>().ToDictionary(e => e.Name);
        Assert.Equal(9092, endpoints[KafkaContainerResource.PrimaryEndpointName].TargetPort);
        Assert.Equal(9093, endpoints[KafkaContainerResource.InternalEndpointName].TargetPort);
        Assert.Contains(container.Annotations.OfType<HealthCheckAnnotation>(), _ => true);
    }

    private static async Task<IResource> KafkaResourceAsync(params string[] args)
    {
        await using var builder = await TestAppHost.CreateBuilderAsync(Timeout, args);
        return builder.Resources.Single(r => r.Name == "kafka");
    }

    private static KafkaResourceChoice Choice(IResource resource)
        => resource.Annotations.OfType<KafkaResourceChoiceAnnotation>().Single().Choice;
}
