using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>
/// <c>filter-kafka-processor</c>: the exactly-once stream processor (docs/processor.md), two replicas in one consumer
/// group by default. AppHost configuration: <c>FilterProcessor:Algorithm</c> (or <c>FILTER_ALGORITHM</c>),
/// <c>FilterProcessor:Mode</c> (or <c>FILTER_MODE</c>: local | remote), <c>FilterProcessor:Replicas</c>,
/// <c>FilterProcessor:Params:{name}</c> (algorithm parameters) and <c>FilterProcessor:Processor:{name}</c> (batching knobs).
/// </summary>
public static class FilterProcessorExtensions
{
    public const string ResourceName = "filter-kafka-processor";
    private const string Section = "FilterProcessor";

    public static IResourceBuilder<ProjectResource> AddFilterProcessor(
        this IDistributedApplicationBuilder builder,
        IResourceBuilder<IResourceWithConnectionString> kafka,
        IResourceBuilder<ProjectResource>? gateway = null)
    {
        var configuration = builder.Configuration;
        var algorithm = configuration[$"{Section}:Algorithm"] ?? configuration["FILTER_ALGORITHM"] ?? "kalman";
        var mode = configuration[$"{Section}:Mode"] ?? configuration["FILTER_MODE"] ?? "local";
        var replicas = configuration.GetValue($"{Section}:Replicas", 2);

        var processor = builder.AddProject<Projects.FilterProcessor>(ResourceName)
            .WithReplicas(replicas)
            .WithHttpEndpoint()
            .WithReference(kafka).WaitFor(kafka)
            .WithEnvironment("FILTER_ALGORITHM", algorithm)
            .WithEnvironment("FILTER_MODE", mode)
            .WithHttpHealthCheck("/health");

        if (kafka.Resource is DevKafkaBrokerResource)
        {
            // The dev broker shows aborted transactions to read_committed readers: the processor compensates (docs/processor.md).
            processor.WithEnvironment("Processor__DevBrokerCompensation", "true");
        }

        foreach (var (name, prefix) in new[] { ("Params", "Filter__Params__"), ("Processor", "Processor__") })
        {
            foreach (var setting in configuration.GetSection($"{Section}:{name}").GetChildren())
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
