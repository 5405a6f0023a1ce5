namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// Every connection the app needs, from the manifest's references: a resource that uses another's connection string or
/// URL calls it (the processor the gateway, the gateway the algorithm services, the Kafka users Kafka on its client
/// port); Kafka talks to itself (its listeners, other brokers); the topics Job calls Kafka; every project sends
/// telemetry to the dashboard; and the direct calls the options name (processor to processor).
/// Nothing else is opened.
/// </summary>
internal static class NetworkFlows
{
    public static IReadOnlyList<Flow> Of(IReadOnlyList<PreparedWorkload> workloads, IReadOnlyList<WorkloadPort> kafkaPorts, IReadOnlyList<(string From, string To)>? directCalls = null)
    {
        var byName = workloads.ToDictionary(w => w.Name, StringComparer.Ordinal);
        var kafka = workloads.FirstOrDefault(w => w.IsKafka);
        var kafkaClientPort = (kafkaPorts.FirstOrDefault(p => p.Name == "tcp") ?? kafkaPorts.FirstOrDefault())?.TargetPort;
        var flows = new List<Flow>();

        foreach (var w in workloads)
        {
            foreach (var target in w.References.Where(byName.ContainsKey).Select(t => byName[t]))
            {
                IReadOnlyList<int> ports = target.IsKafka && kafkaClientPort is { } client ? [client] : [.. target.Ports.Select(p => p.TargetPort)];
                if (ports.Count > 0)
                {
                    flows.Add(new Flow(w.Name, target.Name, ports));
                }
            }
        }

        if (kafka is not null && kafkaClientPort is { } port)
        {
            flows.Add(new Flow(kafka.Name, kafka.Name, [.. kafkaPorts.Select(p => p.TargetPort)]));
            flows.Add(new Flow(KafkaBuilder.TopicsJobName, kafka.Name, [port]));
        }

        foreach (var project in workloads.Where(w => w.Resource.IsProject))
        {
            flows.Add(new Flow(project.Name, DashboardBuilder.Name, [DashboardBuilder.OtlpGrpcPort]));
        }

        // Calls between projects that no reference shows (KubernetesOptions.DirectCalls), unless a reference already opened them.
        foreach (var (from, to) in directCalls ?? [])
        {
            if (byName.ContainsKey(from) && byName.TryGetValue(to, out var target) && target.Ports.Count > 0 && !flows.Any(f => f.From == from && f.To == to))
            {
                flows.Add(new Flow(from, to, [.. target.Ports.Select(p => p.TargetPort)]));
            }
        }

        return flows;
    }
}
