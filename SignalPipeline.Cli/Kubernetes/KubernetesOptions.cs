namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// What the manifest does not say but a production deployment needs. The defaults are what the committed
/// <c>deploy/k8s</c> is generated with, so regenerating without options reproduces it.
/// </summary>
public sealed record KubernetesOptions
{
    public const string DefaultRegistry = "localhost:5001";
    public const string DefaultTag = "latest";

    /// <summary>Registry (optionally with a path, e.g. <c>ghcr.io/me</c>) of the project images.</summary>
    public string Registry { get; init; } = DefaultRegistry;

    public string Tag { get; init; } = DefaultTag;

    public string Namespace { get; init; } = "signal-processing";

    /// <summary>Values for non-secret parameters that have no default in the manifest.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    /// <summary>The Deployment the HorizontalPodAutoscaler (or the KEDA ScaledObject) scales.</summary>
    public string AutoscaledResource { get; init; } = "filter-kafka-processor";

    public int MinReplicas { get; init; } = 2;

    public int MaxReplicas { get; init; } = 20;

    public int TargetCpuUtilization { get; init; } = 60;

    /// <summary>Scale-down stabilisation: a partition move costs a rebalance and a state restore, so shrink slowly.</summary>
    public int ScaleDownStabilizationSeconds { get; init; } = 300;

    /// <summary>Partitions of every pipeline topic: at least <see cref="MaxReplicas"/> so every replica gets work.</summary>
    public int Partitions { get; init; } = 20;

    public IReadOnlyList<string> Topics { get; init; } = ["sample-input", "sample-output", "sample-dlq"];

    /// <summary>Compacted topics (the processor's state changelog), created with the same partition count.</summary>
    public IReadOnlyList<string> CompactedTopics { get; init; } = ["filter-kafka-processor-state-changelog"];

    /// <summary>Consumer group whose lag the KEDA overlay scales on.</summary>
    public string ConsumerGroup { get; init; } = "filter-kafka-processor";

    public string InputTopic { get; init; } = "sample-input";

    /// <summary>Per-partition lag (in messages) above which KEDA adds a replica.</summary>
    public int LagThreshold { get; init; } = 100;

    public string KafkaStorage { get; init; } = "10Gi";

    public string DashboardImage { get; init; } = "mcr.microsoft.com/dotnet/aspire-dashboard:13.6.0";

    /// <summary>Seconds the processor gets on SIGTERM to finish its transaction and hand its partitions over.</summary>
    public int ConsumerTerminationGraceSeconds { get; init; } = 60;

    public int ServiceTerminationGraceSeconds { get; init; } = 30;

    public void Validate()
    {
        if (MinReplicas < 1 || MaxReplicas < MinReplicas)
        {
            throw new ManifestException($"Replicas: need 1 <= min ({MinReplicas}) <= max ({MaxReplicas}).");
        }

        if (Partitions < MaxReplicas)
        {
            throw new ManifestException(
                $"--partitions ({Partitions}) must be at least the maximum replicas ({MaxReplicas}), or replicas beyond it idle.");
        }

        if (string.IsNullOrWhiteSpace(Registry) || Registry.Contains("://", StringComparison.Ordinal))
        {
            throw new ManifestException($"--registry '{Registry}' must be a registry host with an optional path, e.g. ghcr.io/me.");
        }

        if (string.IsNullOrWhiteSpace(Tag) || Tag.Contains(':', StringComparison.Ordinal) || Tag.Contains('/', StringComparison.Ordinal))
        {
            throw new ManifestException($"--tag '{Tag}' is not a valid image tag.");
        }
    }
}
