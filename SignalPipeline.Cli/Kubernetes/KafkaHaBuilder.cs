using System.Globalization;
using k8s.Models;
using static SignalPipeline.Cli.Kubernetes.KubernetesObjects;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// The <c>ha</c> overlay's Kafka: <see cref="KubernetesOptions.HaBrokers"/> KRaft brokers (each also a controller) of the
/// upstream <c>apache/kafka</c> image, replication factor 3 and <c>min.insync.replicas</c> 2 for every topic and for the
/// transaction and offsets logs, a volume claim per broker, one broker per node, and a disruption budget of one.
/// </summary>
internal sealed class KafkaHaBuilder(KubernetesOptions options, KafkaBuilder kafka)
{
    public const int ClientPort = 9092;
    public const int ControllerPort = 9094;
    private const string DataPath = KafkaBuilder.DefaultDataPath;

    /// <summary>The brokers' ports: clients and brokers on <c>tcp</c>, the KRaft quorum on <c>controller</c>.</summary>
    public static readonly IReadOnlyList<WorkloadPort> Ports = [new("tcp", ClientPort, ClientPort), new("controller", ControllerPort, ControllerPort)];

    /// <summary>The overlay's kafka folder: ConfigMap, StatefulSet, Services, PDB and the topics Job, under the base's names.</summary>
    public IEnumerable<(string File, object Object)> Objects(PreparedWorkload baseKafka)
    {
        var name = baseKafka.Name;
        var headless = name + "-headless";
        var ports = Ports.ToList();
        var voters = string.Join(',', Enumerable.Range(0, options.HaBrokers).Select(i => $"{i}@{name}-{i}.{headless}:{ControllerPort}"));
        var config = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["CLUSTER_ID"] = options.HaClusterId,
            ["KAFKA_PROCESS_ROLES"] = "broker,controller",
            ["KAFKA_CONTROLLER_QUORUM_VOTERS"] = voters,
            ["KAFKA_LISTENERS"] = $"PLAINTEXT://:{ClientPort},CONTROLLER://:{ControllerPort}",
            ["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ["KAFKA_CONTROLLER_LISTENER_NAMES"] = "CONTROLLER",
            ["KAFKA_INTER_BROKER_LISTENER_NAME"] = "PLAINTEXT",
            ["KAFKA_LOG_DIRS"] = DataPath + "/logs",
            ["KAFKA_NUM_PARTITIONS"] = Count(options.Partitions),
            ["KAFKA_DEFAULT_REPLICATION_FACTOR"] = "3",
            ["KAFKA_MIN_INSYNC_REPLICAS"] = "2",
            ["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] = "3",
            ["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] = "3",
            ["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] = "2",
            // Losing acknowledged writes is worse than a partition going offline until an in-sync replica is back.
            ["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] = "false",
            ["KAFKA_HEAP_OPTS"] = "-Xms512m -Xmx1g",
        };
        var w = baseKafka with { Config = config, Ports = ports, Replicas = options.HaBrokers };

        var broker = new V1Container
        {
            Name = name,
            Image = options.HaKafkaImage,
            // Each broker's id is its pod's ordinal and it advertises its own stable DNS name, namespace-qualified so that
            // clients in other namespaces (KEDA's operator) resolve it too; the rest is the ConfigMap.
            Command =
            [
                "sh", "-c",
                $"export KAFKA_NODE_ID=\"${{HOSTNAME##*-}}\" KAFKA_ADVERTISED_LISTENERS=\"PLAINTEXT://${{HOSTNAME}}.{headless}.{options.ServiceDomain}:{ClientPort}\"; exec /etc/kafka/docker/run",
            ],
            Ports = ports.Select(p => new V1ContainerPort { Name = p.Name, ContainerPort = p.TargetPort, Protocol = "TCP" }).ToList(),
            EnvFrom = [new V1EnvFromSource { ConfigMapRef = new V1ConfigMapEnvSource { Name = name + "-env" } }],
            Resources = Resources(options.SizeOf(name)),
            StartupProbe = TcpProbe("tcp", period: 5, failures: 60),
            ReadinessProbe = TcpProbe("tcp", period: 10, failures: 3),
            LivenessProbe = TcpProbe("tcp", period: 10, failures: 6),
            SecurityContext = ContainerSecurity(readOnlyRootFilesystem: false),
            VolumeMounts = [new V1VolumeMount { Name = "data", MountPath = DataPath }],
        };
        var affinity = new V1Affinity
        {
            // One broker per node: a node failure takes one replica, and min.insync.replicas 2 keeps writes going.
            PodAntiAffinity = new V1PodAntiAffinity
            {
                RequiredDuringSchedulingIgnoredDuringExecution =
                [
                    new V1PodAffinityTerm { TopologyKey = "kubernetes.io/hostname", LabelSelector = Selector(name) },
                ],
            },
        };

        yield return ("configmap.yaml", DeploymentBuilder.ConfigMap(w));
        yield return ("statefulset.yaml", kafka.StatefulSet(name, options.HaBrokers, broker,
            kafka.PrepareLogDirs(options.HaKafkaImage, DataPath + "/logs", "data", DataPath), ["data"], w, affinity));
        yield return ("service.yaml", Service(name, name, [ports[0]], headless: false));
        yield return ("headless-service.yaml", Service(headless, name, ports, headless: true));
        yield return ("poddisruptionbudget.yaml", DisruptionBudgetBuilder.Build(name));
        yield return ("topics-job.yaml", kafka.TopicsJob(options.HaKafkaImage, $"{name}:{ClientPort}", replicationFactor: 3));
    }

    private static string Count(int value) => value.ToString(CultureInfo.InvariantCulture);
}
