using Aspire.Hosting.ApplicationModel;
using SignalPipeline.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Aspire.Hosting;

/// <summary>
/// <c>builder.AddKafka("kafka")</c>: one call that gives the app a Kafka, whichever kind this machine can run
/// (see <see cref="KafkaResourceChoice.Decide"/>). Every kind is an <see cref="IResourceWithConnectionString"/> whose
/// connection string is the bootstrap <c>host:port</c>, so <c>.WithReference(kafka)</c> sets
/// <c>ConnectionStrings__kafka</c> in the services.
/// </summary>
public static class KafkaExtensions
{
    /// <summary>The host port of the bootstrap endpoint in run mode, so tools outside the app can use KAFKA_BROKERS=localhost:9092.</summary>
    public const string PortSetting = "Kafka:Port";
    public const int DefaultPort = 9092;

    private const int KafkaBrokerPort = 9092;
    private const int KafkaInternalBrokerPort = 9093;

    public static IResourceBuilder<IResourceWithConnectionString> AddKafka(this IDistributedApplicationBuilder builder, [ResourceName] string name)
    {
        var choice = KafkaResourceChoice.Decide(name, builder.ExecutionContext, builder.Configuration,
            () => ContainerRuntimeProbe.IsAvailable(builder.Configuration));

        var port = builder.ExecutionContext.IsRunMode ? builder.Configuration.GetValue(PortSetting, DefaultPort) : (int?)null;
        IResourceBuilder<IResourceWithConnectionString> kafka = choice.Kind switch
        {
            KafkaBrokerKind.Existing => builder.AddExistingKafka(name, choice.ConnectionString!),
            KafkaBrokerKind.Container => builder.AddKafkaContainer(name, port),
            _ => builder.AddDevKafkaBroker(name, port),
        };

        kafka.WithAnnotation(new KafkaResourceChoiceAnnotation(choice));
        if (choice.Kind != KafkaBrokerKind.DevBroker && builder.ExecutionContext.IsRunMode)
        {
            // The dev broker creates the topics itself; a container or an existing cluster gets them from `kafka topics ensure`.
            builder.AddKafkaTopics(kafka);
        }

        builder.Eventing.Subscribe<BeforeStartEvent>((e, _) =>
        {
            var message = "Kafka resource '{Name}': {Kind} ({Reason})";
            e.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SignalPipeline.AppHost.Kafka")
                .LogInformation(message, name, choice.Kind, choice.Reason);
            e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(kafka.Resource)
                .LogInformation(message, name, choice.Kind, choice.Reason);
            return Task.CompletedTask;
        });

        return kafka;
    }

    /// <summary>The embedded dev broker (SignalPipeline.DevBroker): healthy once it serves metadata with the pipeline's topics.</summary>
    public static IResourceBuilder<DevKafkaBrokerResource> AddDevKafkaBroker(this IDistributedApplicationBuilder builder, [ResourceName] string name, int? port = null)
    {
        var broker = builder.AddResource(new DevKafkaBrokerResource(name))
            .WithAnnotation<IProjectMetadata>(new Projects.SignalPipeline_DevBroker());
#pragma warning disable ASPIREPROJECTS001 // The supported way to give a ProjectResource subclass the launch wiring AddProject gives.
        broker.WithProjectDefaults(new ProjectResourceOptions { ExcludeLaunchProfile = true });
#pragma warning restore ASPIREPROJECTS001
        broker
            .WithHttpEndpoint(name: DevKafkaBrokerResource.HttpEndpointName)
            // Proxied: DCP listens on `port` (random in tests) and forwards to the port the broker is told to open.
            .WithEndpoint(name: DevKafkaBrokerResource.BootstrapEndpointName, scheme: "tcp", port: port, env: "DevBroker__BootstrapPort")
            .WithHttpHealthCheck("/health", endpointName: DevKafkaBrokerResource.HttpEndpointName);

        // Pass the AppHost's topic settings through when given (defaults live in the broker).
        foreach (var setting in new[] { "Topics", "Partitions", "Brokers", "GroupInitialRebalanceDelayMs", "FaultInjection" })
        {
            if (builder.Configuration[$"Kafka:DevBroker:{setting}"] is { } value)
            {
                broker.WithEnvironment($"DevBroker__{setting}", value);
            }
        }

        // Topics renamed in the AppHost (INPUT_TOPIC, ...; WithKafka passes the names to the services) are the ones the
        // broker creates, unless Kafka:DevBroker:Topics lists them itself.
        var names = PipelineTopics.All.Select(t => t.NameIn(builder.Configuration)).ToList();
        if (builder.Configuration["Kafka:DevBroker:Topics"] is null && !names.SequenceEqual(PipelineTopics.All.Select(t => t.Name)))
        {
            broker.WithEnvironment("DevBroker__Topics", string.Join(',', names));
        }

        return broker;
    }

    /// <summary>
    /// A KRaft Kafka container with the listeners Aspire.Hosting.Kafka uses; healthy once a produce succeeds.
    /// </summary>
    public static IResourceBuilder<KafkaContainerResource> AddKafkaContainer(this IDistributedApplicationBuilder builder, [ResourceName] string name, int? port = null)
    {
        var kafka = new KafkaContainerResource(name);
        var healthCheckKey = $"{name}_check";
        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(kafka, async (_, ct) =>
            connectionString = await kafka.ConnectionStringExpression.GetValueAsync(ct));
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            healthCheckKey, _ => new KafkaBrokerHealthCheck(() => connectionString, requireProduce: true, KafkaClientExtensions.ClientProperties(builder.Configuration)), failureStatus: default, tags: default));

        return builder.AddResource(kafka)
            .WithEndpoint(targetPort: KafkaBrokerPort, port: port, name: KafkaContainerResource.PrimaryEndpointName)
            .WithEndpoint(targetPort: KafkaInternalBrokerPort, name: KafkaContainerResource.InternalEndpointName)
            .WithImage(KafkaContainerImage.Image, KafkaContainerImage.Tag)
            .WithImageRegistry(KafkaContainerImage.Registry)
            .WithEnvironment(context => ConfigureKafkaContainer(context, kafka))
            .WithHealthCheck(healthCheckKey);
    }

    /// <summary>A cluster someone else runs; healthy once it answers a metadata request.</summary>
    public static IResourceBuilder<ConnectionStringResource> AddExistingKafka(this IDistributedApplicationBuilder builder, [ResourceName] string name, string bootstrapServers)
    {
        var healthCheckKey = $"{name}_check";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            healthCheckKey, _ => new KafkaBrokerHealthCheck(() => bootstrapServers, requireProduce: false, KafkaClientExtensions.ClientProperties(builder.Configuration)), failureStatus: default, tags: default));

        return builder.AddConnectionString(name, expression => expression.AppendLiteral(bootstrapServers))
            .WithHealthCheck(healthCheckKey);
    }

    // Mirrors Aspire.Hosting.Kafka's ConfigureKafkaContainer: the image's default listeners plus a host listener on
    // 9092 and an internal one on 9093 for container-to-container traffic. Unlike it, PLAINTEXT is advertised on
    // localhost in publish mode too: it is the image's inter-broker listener, bound to localhost, which the broker
    // calls itself on for every transaction's markers; advertised as {host}:29092 (a Service without that port, in
    // Kubernetes), no transaction of the processor could complete.
    private static void ConfigureKafkaContainer(EnvironmentCallbackContext context, KafkaContainerResource resource)
    {
        context.EnvironmentVariables["KAFKA_LISTENERS"] =
            $"PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093,PLAINTEXT_HOST://0.0.0.0:{KafkaBrokerPort},PLAINTEXT_INTERNAL://0.0.0.0:{KafkaInternalBrokerPort}";
        context.EnvironmentVariables["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] =
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT,PLAINTEXT_INTERNAL:PLAINTEXT";

        var primary = resource.PrimaryEndpoint;
        var @internal = resource.InternalEndpoint;
        context.EnvironmentVariables["KAFKA_ADVERTISED_LISTENERS"] = context.ExecutionContext.IsRunMode
            // In run mode containers reach each other by resource name on Aspire's container network.
            ? ReferenceExpression.Create($"PLAINTEXT://localhost:29092,PLAINTEXT_HOST://localhost:{primary.Property(EndpointProperty.Port)},PLAINTEXT_INTERNAL://{resource.Name}:{@internal.Property(EndpointProperty.TargetPort)}")
            : ReferenceExpression.Create($"PLAINTEXT://localhost:29092,PLAINTEXT_HOST://{primary.Property(EndpointProperty.HostAndPort)},PLAINTEXT_INTERNAL://{@internal.Property(EndpointProperty.HostAndPort)}");
    }
}

/// <summary>The image Aspire.Hosting.Kafka uses: Confluent's single-node KRaft Kafka.</summary>
public static class KafkaContainerImage
{
    public const string Registry = "docker.io";
    public const string Image = "confluentinc/confluent-local";
    public const string Tag = "8.0.0";
}
