using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

public static class SignalGeneratorExtensions
{
    /// <summary>
    /// <c>signal-generator</c>: test streams to <c>sample-input</c>, on by default at a modest rate so the system shows
    /// live data on start. AppHost configuration <c>Generator:Enabled=false</c> switches it off, <c>Generator:Rate=0</c>
    /// runs it flat out, <c>Generator:Format=Float64</c> makes it binary (all keys: docs/messages.md, SignalGenerator).
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddSignalGenerator(this IDistributedApplicationBuilder builder, IResourceBuilder<IResourceWithConnectionString> kafka)
    {
        var generator = builder.AddProject<Projects.SignalGenerator>("signal-generator")
            .WithHttpEndpoint()
            .WithKafka(kafka)
            .WithHttpHealthCheck("/health");

        // Every Generator:* key of the AppHost's configuration (e.g. Generator:Rate=0 for full speed), not a list of names:
        // a list missed Generator:DeliveryStallSeconds, so a setting the generator has could not be set from here.
        foreach (var (key, value) in builder.Configuration.GetSection("Generator").AsEnumerable(makePathsRelative: true))
        {
            if (value is not null)
            {
                generator.WithEnvironment($"Generator__{key.Replace(":", "__", StringComparison.Ordinal)}", value);
            }
        }

        return generator;
    }
}
