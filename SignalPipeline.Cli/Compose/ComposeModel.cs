using YamlDotNet.Serialization;

namespace SignalPipeline.Cli.Compose;

/// <summary>A compose file (the Compose Specification's subset this system uses), serialized by <see cref="ComposeYaml"/>.</summary>
public sealed class ComposeFile
{
    public Dictionary<string, ComposeService> Services { get; init; } = [];

    public SortedDictionary<string, ComposeVolume>? Volumes { get; init; }
}

public sealed class ComposeService
{
    public string? Image { get; init; }

    public List<string>? Command { get; init; }

    public List<string>? Profiles { get; init; }

    [YamlMember(Alias = "env_file", ApplyNamingConventions = false)]
    public List<string>? EnvFile { get; init; }

    public SortedDictionary<string, string>? Environment { get; init; }

    public List<string>? Ports { get; init; }

    public List<string>? Volumes { get; init; }

    [YamlMember(Alias = "depends_on", ApplyNamingConventions = false)]
    public SortedDictionary<string, ComposeDependency>? DependsOn { get; init; }

    public ComposeHealthcheck? Healthcheck { get; init; }

    public ComposeDeploy? Deploy { get; init; }

    public string? Restart { get; init; }

    [YamlMember(Alias = "stop_grace_period", ApplyNamingConventions = false)]
    public string? StopGracePeriod { get; init; }
}

public sealed class ComposeDependency
{
    public const string Healthy = "service_healthy";
    public const string CompletedSuccessfully = "service_completed_successfully";

    public required string Condition { get; init; }
}

public sealed class ComposeHealthcheck
{
    public required List<string> Test { get; init; }

    public string Interval { get; init; } = "10s";

    public string Timeout { get; init; } = "5s";

    public int Retries { get; init; } = 6;

    [YamlMember(Alias = "start_period", ApplyNamingConventions = false)]
    public string StartPeriod { get; init; } = "20s";
}

public sealed class ComposeDeploy
{
    public int Replicas { get; init; }
}

/// <summary>A named volume; no settings (the engine's default driver).</summary>
public sealed class ComposeVolume;
