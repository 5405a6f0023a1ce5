using k8s.Models;
using SignalPipeline.Cli.Topics;
using static SignalPipeline.Cli.Kubernetes.KubernetesObjects;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// The base's Kafka: the manifest's broker container as a one-broker KRaft StatefulSet with a volume claim, and the
/// Job that creates the pipeline's topics (<see cref="TopicsScript"/>, from PipelineTopics).
/// </summary>
internal sealed class KafkaBuilder(KubernetesOptions options)
{
    public const string TopicsJobName = "kafka-topics";
    public const string DefaultDataPath = "/var/lib/kafka/data";

    public static string DataPath(ManifestResource kafka) => kafka.Volumes.FirstOrDefault()?.Target ?? DefaultDataPath;

    /// <summary>Kafka refuses a log dir holding anything but partitions, and a fresh volume has lost+found: logs go in a subfolder.</summary>
    public static string LogDirs(ManifestResource kafka) => DataPath(kafka).TrimEnd('/') + "/logs";

    public V1StatefulSet StatefulSet(PreparedWorkload w)
    {
        var volumes = w.Resource.Volumes.Count > 0 ? w.Resource.Volumes.ToList() : [new ManifestVolume("data", DefaultDataPath, ReadOnly: false)];
        var claims = volumes.Select(v => (Claim: VolumeName(w.Name, v.Name), Volume: v)).ToList();
        var data = claims.Single(c => c.Volume.Target == DataPath(w.Resource));
        var tcp = w.Ports[0].Name;
        var container = new V1Container
        {
            Name = w.Name,
            Image = w.Resource.Image ?? throw new ManifestException($"Container '{w.Name}' has no image."),
            Args = w.Args.Count > 0 ? w.Args.ToList() : null,
            Ports = w.Ports.Select(p => new V1ContainerPort { Name = p.Name, ContainerPort = p.TargetPort, Protocol = "TCP" }).ToList(),
            EnvFrom = [new V1EnvFromSource { ConfigMapRef = new V1ConfigMapEnvSource { Name = w.Name + "-env" } }],
            Resources = Resources(options.SizeOf(w.Name)),
            StartupProbe = TcpProbe(tcp, period: 5, failures: 60),
            ReadinessProbe = TcpProbe(tcp, period: 10, failures: 3),
            LivenessProbe = TcpProbe(tcp, period: 10, failures: 6),
            // The Kafka images render their configuration into their own folders when they start: the root stays writable.
            SecurityContext = ContainerSecurity(readOnlyRootFilesystem: false),
            VolumeMounts = claims.Select(c => new V1VolumeMount { Name = c.Claim, MountPath = c.Volume.Target, ReadOnlyProperty = c.Volume.ReadOnly ? true : null }).ToList(),
        };

        return StatefulSet(w.Name, 1, container, PrepareLogDirs(container.Image, LogDirs(w.Resource), data.Claim, data.Volume.Target), claims.Select(c => c.Claim), w, affinity: null);
    }

    /// <summary>A broker StatefulSet: controlled shutdown time, no service links, the restricted security context.</summary>
    public V1StatefulSet StatefulSet(
        string name, int replicas, V1Container broker, V1Container init, IEnumerable<string> claims, PreparedWorkload w, V1Affinity? affinity) => new()
    {
        ApiVersion = "apps/v1",
        Kind = "StatefulSet",
        Metadata = Meta(name, name),
        Spec = new V1StatefulSetSpec
        {
            ServiceName = name + "-headless",
            Replicas = replicas,
            // Brokers of a KRaft quorum must start together: one waiting for the previous to be ready would wait forever.
            PodManagementPolicy = replicas > 1 ? "Parallel" : null,
            Selector = Selector(name),
            Template = DeploymentBuilder.PodTemplate(w, new V1PodSpec
            {
                AutomountServiceAccountToken = false,
                // Service links would put KAFKA_PORT=tcp://... into the environment, which the Kafka images read as config.
                EnableServiceLinks = false,
                TerminationGracePeriodSeconds = ServiceShutdown.KafkaBrokerGraceSeconds,
                SecurityContext = PodSecurity(KafkaImageUser),
                Affinity = affinity,
                InitContainers = [init],
                Containers = [broker],
            }),
            VolumeClaimTemplates = claims.Select(claim => new V1PersistentVolumeClaim
            {
                ApiVersion = "v1",
                Kind = "PersistentVolumeClaim",
                Metadata = new V1ObjectMeta { Name = claim },
                Spec = new V1PersistentVolumeClaimSpec
                {
                    AccessModes = ["ReadWriteOnce"],
                    Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new(options.KafkaStorage) } },
                },
            }).ToList(),
        },
    };

    public V1Container PrepareLogDirs(string image, string logDirs, string claim, string mountPath) => new()
    {
        Name = "prepare-log-dirs",
        Image = image,
        Command = ["sh", "-c", $"mkdir -p {logDirs}"],
        Resources = Resources(options.SizeOf(TopicsJobName)),
        SecurityContext = ContainerSecurity(readOnlyRootFilesystem: true),
        VolumeMounts = [new V1VolumeMount { Name = claim, MountPath = mountPath }],
    };

    /// <summary>The Job running <see cref="TopicsScript"/> with the broker image's own kafka-topics tool.</summary>
    public V1Job TopicsJob(string image, string bootstrap, int replicationFactor) => new()
    {
        ApiVersion = "batch/v1",
        Kind = "Job",
        Metadata = Meta(TopicsJobName, TopicsJobName),
        Spec = new V1JobSpec
        {
            BackoffLimit = 10,
            // Deleted an hour after it finishes, so a later apply (e.g. with more partitions) recreates it instead of
            // failing on the Job's immutable template; the script is idempotent.
            TtlSecondsAfterFinished = 3600,
            Template = new V1PodTemplateSpec
            {
                Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = TopicsJobName } },
                Spec = new V1PodSpec
                {
                    RestartPolicy = "OnFailure",
                    AutomountServiceAccountToken = false,
                    EnableServiceLinks = false,
                    SecurityContext = PodSecurity(KafkaImageUser),
                    Containers =
                    [
                        new V1Container
                        {
                            Name = TopicsJobName,
                            Image = image,
                            Command = ["sh", "-c", TopicsScript.Render(TopicsScript.ToolFor(image), bootstrap, options.Partitions, replicationFactor)],
                            Env =
                            [
                                new V1EnvVar { Name = "KAFKA_HEAP_OPTS", Value = "-Xmx256m" },
                                new V1EnvVar { Name = "LOG_DIR", Value = "/tmp" },
                            ],
                            Resources = Resources(options.SizeOf(TopicsJobName)),
                            SecurityContext = ContainerSecurity(readOnlyRootFilesystem: true),
                            VolumeMounts = [TmpMount()],
                        },
                    ],
                    Volumes = [TmpVolume()],
                },
            },
        },
    };

    private static string VolumeName(string resource, string volume)
    {
        // Aspire names volumes "<app>-<resource>-data"; keep the claim name short and DNS-safe.
        var name = volume.StartsWith(resource + "-", StringComparison.Ordinal) ? volume[(resource.Length + 1)..] : volume;
        var parts = name.Split('-');
        return PortName(parts[^1].Length > 0 ? parts[^1] : name, maxLength: 63);
    }
}
