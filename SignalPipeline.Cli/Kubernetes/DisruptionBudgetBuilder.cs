using k8s.Models;
using static SignalPipeline.Cli.Kubernetes.KubernetesObjects;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// PodDisruptionBudgets for workloads of more than one replica: at most one pod evicted at a time, so a node drain
/// never takes a service (or a Kafka quorum) down. <c>maxUnavailable: 1</c> rather than <c>minAvailable</c>: it never
/// blocks a drain, even while an HPA runs a single pod. Single-replica workloads get none (it could only block drains).
/// </summary>
internal static class DisruptionBudgetBuilder
{
    public static V1PodDisruptionBudget Build(string app) => new()
    {
        ApiVersion = "policy/v1",
        Kind = "PodDisruptionBudget",
        Metadata = Meta(app, app),
        Spec = new V1PodDisruptionBudgetSpec
        {
            MaxUnavailable = 1,
            Selector = Selector(app),
        },
    };
}
