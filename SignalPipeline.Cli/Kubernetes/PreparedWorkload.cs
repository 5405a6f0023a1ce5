namespace SignalPipeline.Cli.Kubernetes;

/// <summary>A file of the generated output, path relative to the output folder (forward slashes).</summary>
public sealed record GeneratedFile(string Path, string Content);

/// <summary>An image to build and push: from a project (<c>dotnet publish -t:PublishContainer</c>).</summary>
public sealed record ProjectImage(string Registry, string Repository, string Tag, string ProjectPath, IReadOnlyList<string> Resources)
{
    public string Reference => $"{Registry}/{Repository}:{Tag}";
}

/// <summary>A port of a workload: its name, the container's port and the Service's.</summary>
internal sealed record WorkloadPort(string Name, int TargetPort, int ServicePort);

/// <summary>
/// A manifest resource resolved for the cluster: its ConfigMap values, secret keys, arguments, ports, the resources it
/// calls (<see cref="References"/>), whether it uses Kafka, and its replicas (null when an HPA owns the count).
/// </summary>
internal sealed record PreparedWorkload(
    ManifestResource Resource,
    SortedDictionary<string, string> Config,
    SortedDictionary<string, string> Secrets,
    List<string> Args,
    List<WorkloadPort> Ports,
    SortedSet<string> References,
    bool UsesKafka,
    bool IsKafka,
    int? Replicas)
{
    public string Name => Resource.Name;

    /// <summary>More than one pod at once (a PodDisruptionBudget is worth having).</summary>
    public bool IsMultiReplica => Replicas is null or > 1;
}
