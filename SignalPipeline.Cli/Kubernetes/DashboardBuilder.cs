using k8s.Models;
using static SignalPipeline.Cli.Kubernetes.KubernetesObjects;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// The Aspire dashboard as the cluster's telemetry view: the services send OTLP to it with an API key from a Secret
/// the user creates (<see cref="KubernetesOptions.DashboardOtlpSecret"/>); the UI is reached by port-forward and asks
/// for the token the dashboard logs at start.
/// </summary>
internal sealed class DashboardBuilder(KubernetesOptions options)
{
    public const string Name = "aspire-dashboard";
    public const int OtlpGrpcPort = 18889;
    public const string OtlpGrpcPortText = "18889";
    public const string ApiKeyKey = "api-key";

    public static readonly IReadOnlyList<WorkloadPort> Ports =
        [new("dashboard-ui", 18888, 18888), new("otlp-grpc", OtlpGrpcPort, OtlpGrpcPort), new("otlp-http", 18890, 18890)];

    public IEnumerable<(string File, object Object)> Objects()
    {
        var deployment = new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Meta(Name, Name),
            Spec = new V1DeploymentSpec
            {
                Replicas = 1, // telemetry lives in its memory: a second replica would show half of it
                Selector = Selector(Name),
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = Name } },
                    Spec = new V1PodSpec
                    {
                        AutomountServiceAccountToken = false,
                        EnableServiceLinks = false,
                        TerminationGracePeriodSeconds = options.ServiceTerminationGraceSeconds,
                        SecurityContext = PodSecurity(DotnetAppUser),
                        Containers =
                        [
                            new V1Container
                            {
                                Name = Name,
                                Image = options.DashboardImage,
                                Ports = Ports.Select(p => new V1ContainerPort { Name = p.Name, ContainerPort = p.TargetPort, Protocol = "TCP" }).ToList(),
                                Env =
                                [
                                    new V1EnvVar { Name = "Dashboard__Frontend__AuthMode", Value = "BrowserToken" },
                                    new V1EnvVar { Name = "Dashboard__Otlp__AuthMode", Value = "ApiKey" },
                                    new V1EnvVar
                                    {
                                        Name = "Dashboard__Otlp__PrimaryApiKey",
                                        ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = options.DashboardOtlpSecret, Key = ApiKeyKey } },
                                    },
                                ],
                                Resources = Resources(options.SizeOf(Name)),
                                ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/", Port = "dashboard-ui" }, PeriodSeconds = 10 },
                                LivenessProbe = new V1Probe { TcpSocket = new V1TCPSocketAction { Port = "dashboard-ui" }, PeriodSeconds = 10, FailureThreshold = 6 },
                                Lifecycle = PreStopSleep(options),
                                SecurityContext = ContainerSecurity(readOnlyRootFilesystem: true),
                                VolumeMounts = [TmpMount()],
                            },
                        ],
                        Volumes = [TmpVolume()],
                    },
                },
            },
        };

        yield return ("deployment.yaml", deployment);
        yield return ("service.yaml", Service(Name, Name, Ports, headless: false));
    }
}
