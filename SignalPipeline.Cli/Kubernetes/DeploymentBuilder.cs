using System.Security.Cryptography;
using System.Text;
using k8s.Models;
using static SignalPipeline.Cli.Kubernetes.KubernetesObjects;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>The ConfigMap and Deployment of a project (or of a container without state).</summary>
internal sealed class DeploymentBuilder(KubernetesOptions options)
{
    public const string OtlpApiKeyVariable = "OTLP_API_KEY";

    public static V1ConfigMap ConfigMap(PreparedWorkload w) => new()
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Metadata = Meta(w.Name + "-env", w.Name),
        Data = new Dictionary<string, string>(w.Config, StringComparer.Ordinal),
    };

    /// <summary>
    /// The stream processor's transactional id follows its pod (docs/processor.md): a container restarted in the same pod
    /// fences its previous incarnation at once and aborts the transaction it left open.
    /// </summary>
    private IEnumerable<V1EnvVar> StableInstanceId(PreparedWorkload w)
        => w.Name == options.StableInstanceIdResource ? [new V1EnvVar { Name = "Processor__InstanceId", Value = "$(POD_NAME)" }] : [];

    /// <summary>The processor announces its pod's address to its peers (the instance directory); the downward API gives it.</summary>
    private IEnumerable<V1EnvVar> PodIp(PreparedWorkload w)
        => w.Name == options.PodIpResource
            ? [new V1EnvVar { Name = "POD_IP", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "status.podIP" } } }]
            : [];

    public V1Deployment Project(PreparedWorkload w, string image)
    {
        var http = w.Ports[0].Name;
        var container = new V1Container
        {
            Name = w.Name,
            Image = image,
            Args = w.Args.Count > 0 ? w.Args.ToList() : null,
            Ports = w.Ports.Select(p => new V1ContainerPort { Name = p.Name, ContainerPort = p.TargetPort, Protocol = "TCP" }).ToList(),
            EnvFrom = EnvFrom(w),
            Env =
            [
                new V1EnvVar { Name = "POD_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } },
                // One instance per pod in the dashboard, as Aspire does with service.instance.id when it runs replicas.
                new V1EnvVar { Name = "OTEL_RESOURCE_ATTRIBUTES", Value = "service.instance.id=$(POD_NAME)" },
                // The dashboard accepts telemetry only with its API key (optional here: without the Secret the app runs, untraced).
                new V1EnvVar
                {
                    Name = OtlpApiKeyVariable,
                    ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = options.DashboardOtlpSecret, Key = DashboardBuilder.ApiKeyKey, Optional = true } },
                },
                new V1EnvVar { Name = "OTEL_EXPORTER_OTLP_HEADERS", Value = $"x-otlp-api-key=$({OtlpApiKeyVariable})" },
                .. StableInstanceId(w),
                .. PodIp(w),
            ],
            Resources = Resources(options.SizeOf(w.Name)),
            StartupProbe = HttpProbe("/alive", http, period: 2, failures: 30),
            ReadinessProbe = HttpProbe("/health", http, period: 10, failures: 3),
            LivenessProbe = HttpProbe("/alive", http, period: 10, failures: 3),
            Lifecycle = PreStopSleep(options),
            SecurityContext = ContainerSecurity(readOnlyRootFilesystem: true),
            VolumeMounts = [TmpMount(), .. KafkaClientMounts(w)],
        };

        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Meta(w.Name, w.Name),
            Spec = new V1DeploymentSpec
            {
                // An HPA owns the replica count of an autoscaled Deployment; a fixed number here would fight it.
                Replicas = w.Replicas,
                Selector = Selector(w.Name),
                Strategy = new V1DeploymentStrategy
                {
                    Type = "RollingUpdate",
                    RollingUpdate = new V1RollingUpdateDeployment { MaxSurge = 1, MaxUnavailable = 0 },
                },
                Template = PodTemplate(w, new V1PodSpec
                {
                    AutomountServiceAccountToken = false,
                    EnableServiceLinks = false,
                    TerminationGracePeriodSeconds = w.UsesKafka ? options.ConsumerTerminationGraceSeconds : options.ServiceTerminationGraceSeconds,
                    SecurityContext = PodSecurity(DotnetAppUser),
                    Containers = [container],
                    Volumes = [TmpVolume(), .. KafkaClientVolumes(w)],
                }),
            },
        };
    }

    /// <summary>A stateless container of the manifest (none today; kept so a new one is not dropped).</summary>
    public V1Deployment Container(PreparedWorkload w, string image) => new()
    {
        ApiVersion = "apps/v1",
        Kind = "Deployment",
        Metadata = Meta(w.Name, w.Name),
        Spec = new V1DeploymentSpec
        {
            Replicas = w.Replicas,
            Selector = Selector(w.Name),
            Template = PodTemplate(w, new V1PodSpec
            {
                AutomountServiceAccountToken = false,
                EnableServiceLinks = false,
                TerminationGracePeriodSeconds = options.ServiceTerminationGraceSeconds,
                SecurityContext = PodSecurity(null),
                Containers =
                [
                    new V1Container
                    {
                        Name = w.Name,
                        Image = image,
                        Args = w.Args.Count > 0 ? w.Args.ToList() : null,
                        Ports = w.Ports.Count > 0 ? w.Ports.Select(p => new V1ContainerPort { Name = p.Name, ContainerPort = p.TargetPort, Protocol = "TCP" }).ToList() : null,
                        EnvFrom = EnvFrom(w),
                        Resources = Resources(options.SizeOf(w.Name)),
                        ReadinessProbe = w.Ports.Count > 0 ? TcpProbe(w.Ports[0].Name, period: 10, failures: 3) : null,
                        LivenessProbe = w.Ports.Count > 0 ? TcpProbe(w.Ports[0].Name, period: 10, failures: 6) : null,
                        SecurityContext = ContainerSecurity(readOnlyRootFilesystem: false),
                    },
                ],
            }),
        },
    };

    public static V1PodTemplateSpec PodTemplate(PreparedWorkload w, V1PodSpec spec) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Labels = new Dictionary<string, string> { ["app"] = w.Name },
            // A ConfigMap change alone does not restart pods; a new hash in the template does.
            Annotations = new Dictionary<string, string> { ["signal-pipeline/config-hash"] = ConfigHash(w) },
        },
        Spec = spec,
    };

    /// <summary>The ConfigMap, the manifest's secrets, and for Kafka users the (optional) Kafka client Secret.</summary>
    private List<V1EnvFromSource> EnvFrom(PreparedWorkload w)
    {
        var sources = new List<V1EnvFromSource> { new() { ConfigMapRef = new V1ConfigMapEnvSource { Name = w.Name + "-env" } } };
        if (w.Secrets.Count > 0)
        {
            sources.Add(new V1EnvFromSource { SecretRef = new V1SecretEnvSource { Name = w.Name + "-secrets" } });
        }

        if (w.UsesKafka)
        {
            // Kafka__Client__security.protocol, sasl.*...: optional, so a plaintext cluster needs no Secret.
            sources.Add(new V1EnvFromSource { SecretRef = new V1SecretEnvSource { Name = options.KafkaClientSecret, Optional = true } });
        }

        return sources;
    }

    private IEnumerable<V1VolumeMount> KafkaClientMounts(PreparedWorkload w) => w.UsesKafka
        ? [new V1VolumeMount { Name = "kafka-client-tls", MountPath = options.KafkaClientTlsPath, ReadOnlyProperty = true }]
        : [];

    private IEnumerable<V1Volume> KafkaClientVolumes(PreparedWorkload w) => w.UsesKafka
        ? [new V1Volume { Name = "kafka-client-tls", Secret = new V1SecretVolumeSource { SecretName = options.KafkaClientTlsSecret, Optional = true } }]
        : [];

    private static string ConfigHash(PreparedWorkload w)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in w.Config)
        {
            text.Append(key).Append('=').Append(value).Append('\n');
        }

        foreach (var key in w.Secrets.Keys)
        {
            text.Append("secret:").Append(key).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }
}
