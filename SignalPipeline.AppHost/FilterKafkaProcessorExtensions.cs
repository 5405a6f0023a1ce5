using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using SignalPipeline.Kafka;

namespace Aspire.Hosting;

/// <summary>
/// <c>filter-kafka-processor</c>: the exactly-once stream processor (docs/processor.md), two replicas in one consumer
/// group by default. AppHost configuration: <c>FilterKafkaProcessor:Algorithm</c> (or <c>FILTER_ALGORITHM</c>),
/// <c>FilterKafkaProcessor:Mode</c> (or <c>FILTER_MODE</c>: local | remote), <c>FilterKafkaProcessor:Replicas</c>,
/// <c>FilterKafkaProcessor:Params:{name}</c> (algorithm parameters) and <c>FilterKafkaProcessor:Processor:{name}</c> (batching knobs);
/// the former section name <c>FilterProcessor:*</c> is read when no <c>FilterKafkaProcessor:*</c> key is set.
/// </summary>
public static class FilterKafkaProcessorExtensions
{
    public const string ResourceName = "filter-kafka-processor";
    private const string Section = "FilterKafkaProcessor";

    // The project's name before it was renamed to match its resource; still read when no FilterKafkaProcessor key is set.
    private const string FormerSection = "FilterProcessor";

    public static IResourceBuilder<ProjectResource> AddFilterKafkaProcessor(
        this IDistributedApplicationBuilder builder,
        IResourceBuilder<IResourceWithConnectionString> kafka,
        IResourceBuilder<ProjectResource>? gateway = null)
    {
        var configuration = builder.Configuration;
        var section = configuration.GetSection(Section).Exists() ? Section : FormerSection;
        var algorithm = configuration[$"{section}:Algorithm"] ?? configuration["FILTER_ALGORITHM"] ?? "kalman";
        var mode = configuration[$"{section}:Mode"] ?? configuration["FILTER_MODE"] ?? "local";
        var replicas = configuration.GetValue($"{section}:Replicas", 2);

        var processor = builder.AddProject<Projects.FilterKafkaProcessor>(ResourceName)
            .WithReplicas(replicas)
            .WithHttpEndpoint()
            .WithKafka(kafka)
            .WithEnvironment("FILTER_ALGORITHM", algorithm)
            .WithEnvironment("FILTER_MODE", mode)
            .WithHttpHealthCheck("/health");

        // Runtime settings only the environment can carry (the GC's gen0 budget); they reach the manifest and so the
        // Kubernetes and Compose output.
        foreach (var (name, value) in ProcessorRuntime.Environment)
        {
            processor.WithEnvironment(name, value);
        }

        if (kafka.Resource is DevKafkaBrokerResource)
        {
            // The dev broker shows aborted transactions to read_committed readers: the processor compensates (docs/processor.md).
            processor.WithEnvironment("Processor__DevBrokerCompensation", "true");
        }

        foreach (var (name, prefix) in new[] { ("Params", "Filter__Params__"), ("Processor", "Processor__") })
        {
            foreach (var setting in configuration.GetSection($"{section}:{name}").GetChildren())
            {
                if (setting.Value is not null)
                {
                    processor.WithEnvironment(prefix + setting.Key, setting.Value);
                }
            }
        }

        if (gateway is not null)
        {
            // No WaitFor: in remote mode a batch that cannot reach the gateway is aborted and retried, so the
            // processor may start first (and the app's start does not wait on the whole service chain).
            processor.WithReference(gateway);
        }

        return processor;
    }
}
