using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>A kustomization.yaml (the fields this generator uses), serialized by YamlDotNet.</summary>
internal sealed record Kustomization
{
    public string ApiVersion { get; init; } = "kustomize.config.k8s.io/v1beta1";

    public string Kind { get; init; } = "Kustomization";

    public string? Namespace { get; init; }

    public IReadOnlyList<KustomizeLabels>? Labels { get; init; }

    public required IReadOnlyList<string> Resources { get; init; }

    public IReadOnlyList<KustomizePatch>? Patches { get; init; }

    public IReadOnlyList<KustomizeSecretGenerator>? SecretGenerator { get; init; }
}

internal sealed record KustomizeLabels(IReadOnlyDictionary<string, string> Pairs, bool IncludeTemplates);

internal sealed record KustomizePatch(string Path);

internal sealed record KustomizeSecretGenerator(string Name, IReadOnlyList<string> Envs);

/// <summary>KEDA's ScaledObject (its CRD has no model in KubernetesClient): the fields the KEDA overlay sets.</summary>
internal sealed record ScaledObject
{
    public string ApiVersion { get; init; } = "keda.sh/v1alpha1";

    public string Kind { get; init; } = "ScaledObject";

    public required ScaledObjectMetadata Metadata { get; init; }

    public required ScaledObjectSpec Spec { get; init; }
}

internal sealed record ScaledObjectMetadata(string Name, IReadOnlyDictionary<string, string> Labels);

internal sealed record ScaledObjectSpec(
    ScaleTarget ScaleTargetRef, int MinReplicaCount, int MaxReplicaCount, int PollingInterval, int CooldownPeriod,
    ScaledObjectAdvanced Advanced, IReadOnlyList<ScaleTrigger> Triggers);

internal sealed record ScaleTarget(string ApiVersion, string Kind, string Name);

internal sealed record ScaledObjectAdvanced(HpaConfig HorizontalPodAutoscalerConfig);

internal sealed record HpaConfig(HpaBehavior Behavior);

internal sealed record HpaBehavior(HpaScaleDown ScaleDown);

internal sealed record HpaScaleDown(int StabilizationWindowSeconds, IReadOnlyList<HpaPolicy> Policies);

internal sealed record HpaPolicy(string Type, int Value, int PeriodSeconds);

/// <summary>A KEDA trigger; KEDA reads every metadata value as a string.</summary>
internal sealed record ScaleTrigger(string Type, IReadOnlyDictionary<string, string> Metadata);

/// <summary>YAML for the typed records above: camelCase, nulls left out, strings quoted where YAML (1.1 included) would read them otherwise.</summary>
internal static class KustomizeYaml
{
    private static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(CamelCaseNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull)
        .WithQuotingNecessaryStrings(quoteYaml1_1Strings: true) // kubectl and kustomize read YAML 1.1
        .DisableAliases()
        .Build();

    public static GeneratedFile File(string path, object value, string comment = "") =>
        new(path, KubernetesObjects.Header + comment + Serializer.Serialize(value).Replace("\r\n", "\n", StringComparison.Ordinal));
}
