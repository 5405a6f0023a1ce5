using k8s.Models;
using static SignalPipeline.Cli.Kubernetes.KubernetesObjects;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>CPU HorizontalPodAutoscalers: quick to grow, slow to shrink (a processor scale-down costs a rebalance and a restore).</summary>
internal sealed class AutoscalerBuilder(KubernetesOptions options)
{
    public V2HorizontalPodAutoscaler Build(string name, CpuAutoscaling hpa) => new()
    {
        ApiVersion = "autoscaling/v2",
        Kind = "HorizontalPodAutoscaler",
        Metadata = Meta(name, name),
        Spec = new V2HorizontalPodAutoscalerSpec
        {
            ScaleTargetRef = new V2CrossVersionObjectReference { ApiVersion = "apps/v1", Kind = "Deployment", Name = name },
            MinReplicas = hpa.MinReplicas,
            MaxReplicas = hpa.MaxReplicas,
            Metrics =
            [
                new V2MetricSpec
                {
                    Type = "Resource",
                    Resource = new V2ResourceMetricSource
                    {
                        Name = "cpu",
                        Target = new V2MetricTarget { Type = "Utilization", AverageUtilization = hpa.TargetCpuUtilization },
                    },
                },
            ],
            Behavior = new V2HorizontalPodAutoscalerBehavior
            {
                ScaleUp = new V2HPAScalingRules
                {
                    StabilizationWindowSeconds = 0,
                    SelectPolicy = "Max",
                    Policies =
                    [
                        new V2HPAScalingPolicy { Type = "Pods", Value = 4, PeriodSeconds = 30 },
                        new V2HPAScalingPolicy { Type = "Percent", Value = 100, PeriodSeconds = 30 },
                    ],
                },
                ScaleDown = new V2HPAScalingRules
                {
                    StabilizationWindowSeconds = options.ScaleDownStabilizationSeconds,
                    SelectPolicy = "Min",
                    Policies = [new V2HPAScalingPolicy { Type = "Pods", Value = 1, PeriodSeconds = 60 }],
                },
            },
        },
    };
}
