namespace SignalPipeline.Kafka;

/// <summary>
/// Runtime settings the processor is started with wherever it runs (the AppHost, and from its manifest the Kubernetes
/// and Compose output; the bench). They are environment variables because the runtime reads them only there: the GC's
/// gen0 budget has no runtimeconfig.json name.
/// </summary>
public static class ProcessorRuntime
{
    /// <summary>
    /// The smallest gen0 budget, 32 MiB (hexadecimal, as the runtime reads it). A batch keeps each record's input,
    /// decoded samples and output alive until its commit, about 10 KiB a 256-sample record and ~10 MiB a batch; with the
    /// workstation GC's own budget (about 16 MiB here) most collections found a batch alive and copied it to gen 1.
    /// Measured in docs/benchmarks.md ("A larger gen0 budget"): 10-20 % less processor CPU per record with binary 256-sample chunks.
    /// </summary>
    public const string Gen0Budget = "0x2000000";

    /// <summary>The variables, name to value.</summary>
    public static IReadOnlyDictionary<string, string> Environment { get; } = new Dictionary<string, string>
    {
        ["DOTNET_GCgen0size"] = Gen0Budget,
    };
}
