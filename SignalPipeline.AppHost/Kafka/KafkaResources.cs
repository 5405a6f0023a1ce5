using Aspire.Hosting.ApplicationModel;

namespace Aspire.Hosting;

/// <summary>
/// The embedded dev broker: the SignalPipeline.DevBroker project, which is also a Kafka connection string
/// (its bootstrap endpoint), so services take it with <c>WithReference</c> like any Kafka.
/// </summary>
public sealed class DevKafkaBrokerResource(string name) : ProjectResource(name), IResourceWithConnectionString
{
    public const string BootstrapEndpointName = "tcp";
    public const string HttpEndpointName = "http";

    public EndpointReference BootstrapEndpoint => new(this, BootstrapEndpointName);

    public ReferenceExpression ConnectionStringExpression
        => ReferenceExpression.Create($"{BootstrapEndpoint.Property(EndpointProperty.HostAndPort)}");
}

/// <summary>
/// A KRaft Kafka broker in a container, set up like Aspire.Hosting.Kafka's <c>KafkaServerResource</c> (that package is
/// not served here): a host-facing listener (<c>tcp</c>) and one for container-to-container traffic (<c>internal</c>).
/// </summary>
public sealed class KafkaContainerResource(string name) : ContainerResource(name), IResourceWithConnectionString
{
    public const string PrimaryEndpointName = "tcp";
    public const string InternalEndpointName = "internal";

    public EndpointReference PrimaryEndpoint => new(this, PrimaryEndpointName);

    public EndpointReference InternalEndpoint => new(this, InternalEndpointName);

    public ReferenceExpression ConnectionStringExpression
        => ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.HostAndPort)}");
}

/// <summary>Records on the resource which Kafka the AppHost chose and why.</summary>
public sealed record KafkaResourceChoiceAnnotation(KafkaResourceChoice Choice) : IResourceAnnotation;
