using Aspire.Hosting.ApplicationModel;
using SignalPipeline.Kafka;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>
/// How a resource uses the app's Kafka: its connection string, a wait for the broker and, where the AppHost provisions
/// topics (container and existing cluster), a wait for the <c>kafka-topics</c> resource to finish; plus the AppHost's
/// <c>Kafka:Client:*</c> settings (security) as <c>Kafka__Client__*</c>, so every Kafka-using resource gets the same ones.
/// </summary>
public static class KafkaClientExtensions
{
    /// <summary>The AppHost section forwarded to every Kafka-using resource (same name the services read).</summary>
    public const string ClientSection = "Kafka:Client";

    public static IResourceBuilder<T> WithKafka<T>(this IResourceBuilder<T> resource, IResourceBuilder<IResourceWithConnectionString> kafka)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport
    {
        resource.WithReference(kafka).WaitFor(kafka).WithKafkaClientSettings().WithTopicNames();
        if (kafka.Resource.TryGetLastAnnotation<KafkaTopicsAnnotation>(out var topics))
        {
            // The services check their topics at start; they start once the topics exist.
            resource.WaitForCompletion(topics.Topics);
        }

        return resource;
    }

    /// <summary>
    /// Sets <c>Kafka__Client__{key}</c> for each <c>Kafka:Client:{key}</c> of the AppHost's configuration, in run mode
    /// only: a published manifest must not carry a password (in Kubernetes the values come from a Secret).
    /// </summary>
    public static IResourceBuilder<T> WithKafkaClientSettings<T>(this IResourceBuilder<T> resource)
        where T : IResourceWithEnvironment
    {
        if (resource.ApplicationBuilder.ExecutionContext.IsRunMode)
        {
            foreach (var (key, value) in ClientProperties(resource.ApplicationBuilder.Configuration))
            {
                resource.WithEnvironment($"Kafka__Client__{key}", value);
            }
        }

        return resource;
    }

    /// <summary>The AppHost's <c>*_TOPIC</c> settings (<see cref="PipelineTopics.All"/>), when set, so every Kafka user agrees on the names.</summary>
    public static IResourceBuilder<T> WithTopicNames<T>(this IResourceBuilder<T> resource)
        where T : IResourceWithEnvironment
    {
        foreach (var setting in PipelineTopics.All.Select(t => t.Setting))
        {
            if (resource.ApplicationBuilder.Configuration[setting] is { Length: > 0 } name)
            {
                resource.WithEnvironment(setting, name);
            }
        }

        return resource;
    }

    /// <summary>The <c>Kafka:Client</c> section as librdkafka properties (key relative to the section).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> ClientProperties(IConfiguration configuration) =>
        [.. configuration.GetSection(ClientSection).AsEnumerable(makePathsRelative: true)
            .Where(p => p.Value is not null)
            .Select(p => KeyValuePair.Create(p.Key, p.Value!))
            .OrderBy(p => p.Key, StringComparer.Ordinal)];

    /// <summary>
    /// <c>kafka-topics</c>: runs <c>signal-pipeline kafka topics ensure</c> once the broker is healthy, for the Kafka
    /// kinds that do not come with the pipeline's topics (a container, an existing cluster); <see cref="WithKafka{T}"/>
    /// makes the services wait for it to finish. Not in publish mode: Kubernetes has its own topics Job.
    /// </summary>
    public static void AddKafkaTopics(this IDistributedApplicationBuilder builder, IResourceBuilder<IResourceWithConnectionString> kafka)
    {
        var topics = builder.AddProject<Projects.SignalPipeline_Cli>(kafka.Resource.Name + "-topics", options => options.ExcludeLaunchProfile = true)
            .WithArgs("kafka", "topics", "ensure", "--partitions", builder.Configuration[PartitionsSetting] ?? "20")
            .WithReference(kafka).WaitFor(kafka)
            .WithKafkaClientSettings()
            .WithTopicNames();
        kafka.WithAnnotation(new KafkaTopicsAnnotation(topics));
    }

    /// <summary>Partitions of the topics <c>kafka-topics</c> creates (at least the processor's replicas).</summary>
    public const string PartitionsSetting = "Kafka:Topics:Partitions";
}

/// <summary>The resource that provisions the topics of the Kafka resource it annotates.</summary>
public sealed record KafkaTopicsAnnotation(IResourceBuilder<ProjectResource> Topics) : IResourceAnnotation;
