namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// <c>overlays/keda</c>: the processor scaled on its consumer group's lag by a KEDA ScaledObject instead of the CPU HPA
/// (deleted by a patch: two HPAs on one Deployment fight), and Kafka admitting the KEDA operator's namespace.
/// </summary>
internal sealed class KedaOverlay(KubernetesOptions options, List<string> warnings)
{
    public const string KedaNamespace = "keda";

    public void Write(KustomizeTree tree, IReadOnlyList<PreparedWorkload> workloads, IReadOnlyList<string> folders)
    {
        var target = workloads.FirstOrDefault(w => w.Name == options.AutoscaledResource);
        var kafka = workloads.FirstOrDefault(w => w.IsKafka);
        if (target is null || kafka is null || options.AutoscalerOf(options.AutoscaledResource) is not { } hpa)
        {
            warnings.Add(target is null || options.AutoscalerOf(options.AutoscaledResource) is null
                ? $"No autoscaled '{options.AutoscaledResource}' in the manifest: no KEDA overlay."
                : "No Kafka container in the manifest: no KEDA overlay.");
            return;
        }

        var clientPort = (kafka.Ports.FirstOrDefault(p => p.Name == "tcp") ?? kafka.Ports[0]);
        var name = options.AutoscaledResource;
        var scaledObject = new ScaledObject
        {
            Metadata = new ScaledObjectMetadata(name, new Dictionary<string, string> { ["app"] = name }),
            Spec = new ScaledObjectSpec(
                new ScaleTarget("apps/v1", "Deployment", name),
                hpa.MinReplicas, hpa.MaxReplicas, PollingInterval: 15, CooldownPeriod: 300,
                new ScaledObjectAdvanced(new HpaConfig(new HpaBehavior(new HpaScaleDown(options.ScaleDownStabilizationSeconds, [new HpaPolicy("Pods", 1, 60)])))),
                [
                    new ScaleTrigger("kafka", new Dictionary<string, string>
                    {
                        // KEDA's operator connects from its own namespace: the bare Service name resolves only in this one.
                        ["bootstrapServers"] = $"{kafka.Name}.{options.ServiceDomain}:{clientPort.ServicePort}",
                        ["consumerGroup"] = SignalPipeline.Kafka.PipelineTopics.ProcessorGroup,
                        ["topic"] = SignalPipeline.Kafka.PipelineTopics.DefaultInput,
                        ["lagThreshold"] = options.LagThreshold.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        ["offsetResetPolicy"] = "earliest",
                        ["allowIdleConsumers"] = "false",
                    }),
                ]),
        };
        var deleteHpa = new Dictionary<string, object>
        {
            ["$patch"] = "delete",
            ["apiVersion"] = "autoscaling/v2",
            ["kind"] = "HorizontalPodAutoscaler",
            ["metadata"] = new Dictionary<string, string> { ["name"] = name },
        };

        tree.Overlay("keda",
            "# The lag-based alternative to the CPU HPA (needs KEDA, https://keda.sh). On a cluster where the base was applied, delete\n# its CPU HPA first (kubectl apply does not prune it, and KEDA refuses a Deployment another HPA scales):\n# kubectl delete hpa filter-kafka-processor -n signal-processing --ignore-not-found\n# kubectl apply --server-side -k deploy/k8s/overlays/keda\n",
            folders, [],
            [
                ("scaledobject.yaml", scaledObject),
                // KEDA's operator reads the lag from Kafka, so Kafka must also admit it (policies add up).
                ("kafka-allow-keda.yaml", NetworkPolicyBuilder.FromNamespace(kafka.Name + "-allow-keda", kafka.Name, KedaNamespace, [clientPort.TargetPort])),
                ("delete-cpu-hpa.yaml", deleteHpa),
            ],
            patches: ["delete-cpu-hpa.yaml"]);
    }
}
