using Aspire.Hosting.ApplicationModel;

namespace Aspire.Hosting;

public static class SignalGeneratorExtensions
{
    /// <summary>AppHost settings passed through to the generator (e.g. <c>Generator:Rate=0</c> for full speed).</summary>
    private static readonly string[] Settings =
        ["Enabled", "Streams", "StreamPrefix", "ChunkSize", "Rate", "SampleRate", "Format", "Shapes", "Noise", "Seed", "MaxChunks", "Topic"];

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

        foreach (var setting in Settings)
        {
            if (builder.Configuration[$"Generator:{setting}"] is { } value)
            {
                generator.WithEnvironment($"Generator__{setting}", value);
            }
        }

        return generator;
    }
}
