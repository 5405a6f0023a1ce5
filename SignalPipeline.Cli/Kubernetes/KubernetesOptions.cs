using System.Text.RegularExpressions;
using SignalPipeline.Kafka;
using SignalPipeline.Shared;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>Requests and limits of one container.</summary>
public sealed record ResourceSize(string CpuRequest, string MemoryRequest, string CpuLimit, string MemoryLimit);

/// <summary>
/// What the example Ingress (NGINX) lets one client do at a public resource: concurrent connections per client address at
/// each controller pod (<c>limit-connections</c>), the largest request body it passes (<c>proxy-body-size</c>; 0 leaves
/// NGINX's default of 1 MiB), whether connections stay open for long (WebSockets: an hour's proxy timeouts, else 60 s),
/// and the requests per second one client address may send through each controller pod (<c>limit-rps</c>, with NGINX's
/// burst of 5 times it unless <paramref name="BurstMultiplier"/> sets <c>limit-burst-multiplier</c>; 0 sets none).
/// </summary>
public sealed record IngressEdge(int ConnectionsPerAddress, long MaxBodyBytes = 0, bool LongLived = false, int RequestsPerSecondPerAddress = 0,
    int BurstMultiplier = 0);

/// <summary>A CPU HorizontalPodAutoscaler.</summary>
public sealed record CpuAutoscaling(int MinReplicas, int MaxReplicas, int TargetCpuUtilization);

/// <summary>
/// What the manifest does not say but a production deployment needs: the app-specific facts (which resource is public,
/// replicas, autoscaling, sizes, Secrets by name) live here, not in the builders. The defaults are what the committed
/// <c>deploy/k8s</c> is generated with, so regenerating without options reproduces it.
/// </summary>
public sealed partial record KubernetesOptions
{
    public const string DefaultRegistry = "localhost:5001";
    public const string DefaultTag = "latest";

    /// <summary>Registry (optionally with a path, e.g. <c>ghcr.io/me</c>) of the project images.</summary>
    public string Registry { get; init; } = DefaultRegistry;

    public string Tag { get; init; } = DefaultTag;

    public string Namespace { get; init; } = "signal-processing";

    /// <summary>
    /// <c>namespace.svc</c>: a Service's name with it (<c>kafka.signal-processing.svc</c>) resolves from every namespace,
    /// through the search path from this one too. For addresses used from outside the namespace (KEDA's operator).
    /// </summary>
    public string ServiceDomain => Namespace + ".svc";

    /// <summary>Values for non-secret parameters that have no default in the manifest.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    /// <summary>The Kafka broker resource of the manifest (a container): becomes a StatefulSet with a topics Job.</summary>
    public string KafkaResource { get; init; } = "kafka";

    /// <summary>Resources users reach through the Ingress: admitted from <see cref="IngressNamespace"/>, forwarded headers trusted.</summary>
    public IReadOnlyList<string> PublicResources { get; init; } = ["filter-gateway", "websocket-bridge"];

    /// <summary>The workload whose pods get <c>Processor__InstanceId</c> = the pod name (a stable transactional id).</summary>
    public string StableInstanceIdResource { get; init; } = "filter-kafka-processor";

    /// <summary>The Deployment the lag-based KEDA overlay scales (the processor); it has a CPU HPA in the base.</summary>
    public string AutoscaledResource { get; init; } = PipelineTopics.ProcessorGroup;

    /// <summary>
    /// The workload whose pods get <c>POD_IP</c> (downward API): the processor announces <c>http://{POD_IP}:{port}</c> in its
    /// instance directory, so its peers reach the pod that owns a stream (docs/processor.md, "Which instance answers").
    /// </summary>
    public string PodIpResource { get; init; } = PipelineTopics.ProcessorGroup;

    /// <summary>
    /// HTTP calls the manifest's references do not show, opened in the network policies on the callee's ports: processor
    /// instances ask each other for streams they hold. (The bridge's calls to the processor for its live page follow
    /// from its reference, PROCESSOR_URL.)
    /// </summary>
    public IReadOnlyList<(string From, string To)> DirectCalls { get; init; } =
    [
        (PipelineTopics.ProcessorGroup, PipelineTopics.ProcessorGroup),
    ];

    /// <summary>CPU autoscalers by resource; an autoscaled Deployment has no fixed replica count.</summary>
    public IReadOnlyDictionary<string, CpuAutoscaling> Autoscalers { get; init; } = new Dictionary<string, CpuAutoscaling>
    {
        [PipelineTopics.ProcessorGroup] = new(2, 20, 60),
        // Filtering is CPU work: the algorithm services scale on CPU too.
        ["filter-kalman"] = new(2, 6, 70),
        ["filter-rls"] = new(2, 6, 70),
        ["filter-ls"] = new(2, 6, 70),
    };

    /// <summary>Fixed replica counts (resources not autoscaled); others run one (the signal generator: two would double its data).</summary>
    public IReadOnlyDictionary<string, int> Replicas { get; init; } = new Dictionary<string, int>
    {
        ["filter-gateway"] = 2,
        ["websocket-bridge"] = 2,
    };

    /// <summary>Container sizes by resource (the dashboard, the topics Job and Kafka included); others get <see cref="DefaultSize"/>.</summary>
    public IReadOnlyDictionary<string, ResourceSize> Sizes { get; init; } = new Dictionary<string, ResourceSize>
    {
        [PipelineTopics.ProcessorGroup] = new("500m", "256Mi", "2", "1Gi"),
        ["kafka"] = new("500m", "1Gi", "2", "2Gi"),
        ["kafka-topics"] = new("100m", "256Mi", "500m", "512Mi"),
        ["aspire-dashboard"] = new("100m", "256Mi", "1", "512Mi"),
    };

    public ResourceSize DefaultSize { get; init; } = new("250m", "256Mi", "1", "512Mi");

    /// <summary>Scale-down stabilisation: a partition move costs a rebalance and a state restore, so shrink slowly.</summary>
    public int ScaleDownStabilizationSeconds { get; init; } = 300;

    /// <summary>Partitions of every pipeline topic: at least the processor's maximum replicas so every replica gets work.</summary>
    public int Partitions { get; init; } = 20;

    /// <summary>
    /// KEDA's <c>lagThreshold</c>: consumer lag (messages, summed over the input's partitions) per replica; KEDA runs total
    /// lag / this many replicas, within min and max and at most one per partition.
    /// </summary>
    public int LagThreshold { get; init; } = 100;

    public string KafkaStorage { get; init; } = "10Gi";

    /// <summary>Brokers of the <c>ha</c> overlay (replication factor 3, min ISR 2 need three).</summary>
    public int HaBrokers { get; init; } = 3;

    /// <summary>The upstream Kafka image of the <c>ha</c> overlay.</summary>
    public string HaKafkaImage { get; init; } = "docker.io/apache/kafka:4.1.0";

    /// <summary>The KRaft cluster id of the <c>ha</c> overlay (22 characters of URL-safe base64; any fixed value).</summary>
    public string HaClusterId { get; init; } = "c2lnbmFscGlwZWxpbmUwMQ";

    public string DashboardImage { get; init; } = "mcr.microsoft.com/dotnet/aspire-dashboard:13.6.0";

    /// <summary>Secret (key <c>api-key</c>) holding the dashboard's OTLP API key; created by the user, never generated.</summary>
    public string DashboardOtlpSecret { get; init; } = "aspire-dashboard-otlp";

    /// <summary>Optional Secret of <c>Kafka__Client__*</c> variables (SASL, TLS) for every Kafka-using workload.</summary>
    public string KafkaClientSecret { get; init; } = "kafka-client";

    /// <summary>Optional Secret of certificate files mounted at <see cref="KafkaClientTlsPath"/> (for <c>ssl.*.location</c>).</summary>
    public string KafkaClientTlsSecret { get; init; } = "kafka-client-tls";

    public string KafkaClientTlsPath { get; init; } = "/etc/kafka-client";

    /// <summary>
    /// The example Ingress's limits per public resource. The gateway's body size is its own limit
    /// (<c>FilterGateway:MaxRequestBodyBytes</c>, 16 MiB), so NGINX does not refuse what the API accepts; the bridge's
    /// connections are its per-address cap times its replicas (<c>Bridge:MaxConnectionsPerAddress</c> 16, 2 pods), so
    /// NGINX refuses only what the bridges would refuse, before it costs them a connection. Requests per second: the
    /// gateway's own rate limit (<see cref="RateLimitPermitsPerSecond"/>); the bridge's 20 leave room for about ten live
    /// pages per address (a page polls <c>/streams</c> every 2 s and its filter panel every second), and bound what
    /// pipelined requests cost the bridges before their own budget of requests per address (<c>Bridge:RequestsPerAddressPerSecond</c>) answers (docs/kubernetes.md, "Ingress").
    /// </summary>
    public IReadOnlyDictionary<string, IngressEdge> IngressEdges { get; init; } = new Dictionary<string, IngressEdge>
    {
        // Its requests per second are not set here: IngressEdgeOf takes them from RateLimitPermitsPerSecond (--rate-limit).
        ["filter-gateway"] = new(DefaultIngressConnectionsPerAddress, MaxBodyBytes: 16 * 1024 * 1024),
        ["websocket-bridge"] = new(DefaultIngressConnectionsPerAddress, LongLived: true, RequestsPerSecondPerAddress: 20),
    };

    /// <summary>Connections one client address may hold through the Ingress to a public resource without its own entry.</summary>
    public const int DefaultIngressConnectionsPerAddress = 32;

    /// <summary>The ingress controller's namespace: the only source admitted to the public resources.</summary>
    public string IngressNamespace { get; init; } = "ingress-nginx";

    /// <summary>
    /// <c>ForwardedHeaders__KnownNetworks</c> of the public resources: the network the ingress controller's pods are in,
    /// whose X-Forwarded-For is trusted. The default covers the usual pod CIDRs (10.244/16, 10.42/16...): set your cluster's.
    /// </summary>
    public string ForwardedHeadersKnownNetworks { get; init; } = "10.0.0.0/8";

    /// <summary>The gateway's per-client rate limit (<c>FilterGateway__RateLimitPermitsPerSecond</c>); 0 leaves it off.</summary>
    public int RateLimitPermitsPerSecond { get; init; } = 200;

    /// <summary>
    /// The gateway's burst (<c>FilterGateway__RateLimitBurst</c>): 0 (the gateway reads it as the rate) or at least
    /// <see cref="RateLimitPermitsPerSecond"/>, the values the gateway itself starts with.
    /// </summary>
    public int RateLimitBurst { get; init; } = 400;

    /// <summary>The gateway's resource name (rate limiting applies to it).</summary>
    public string GatewayResource { get; init; } = "filter-gateway";

    /// <summary>
    /// Seconds an HTTP pod keeps serving after it is told to stop, before SIGTERM (a <c>preStop</c> sleep): the Service's
    /// endpoints and the ingress controller take a moment to drop a terminating pod, and until they do they still send it
    /// requests, which a host that already stopped listening would refuse.
    /// </summary>
    public int PreStopSleepSeconds { get; init; } = 5;

    /// <summary>Seconds the Kafka clients get from the stop to SIGKILL: the preStop sleep, then the transaction and the hand-over.</summary>
    public int ConsumerTerminationGraceSeconds { get; init; } = ServiceShutdown.KafkaClientGraceSeconds;

    /// <summary>Seconds the other HTTP pods get from the stop to SIGKILL: the preStop sleep, the host's drain, a margin.</summary>
    public int ServiceTerminationGraceSeconds => PreStopSleepSeconds + ServiceShutdown.HostTimeoutSeconds + ServiceShutdown.MarginSeconds;

    public ResourceSize SizeOf(string resource) => Sizes.GetValueOrDefault(resource) ?? DefaultSize;

    public IngressEdge IngressEdgeOf(string resource)
    {
        var edge = IngressEdges.GetValueOrDefault(resource) ?? new IngressEdge(DefaultIngressConnectionsPerAddress);

        // The gateway's limit-rps is its own rate limit, whatever --rate-limit makes it: a lower NGINX limit would refuse
        // what the gateway lets through, a higher one would let a flood reach its CPU. 0 (the gateway's limit off) sets none.
        return resource == GatewayResource
            ? edge with { RequestsPerSecondPerAddress = RateLimitPermitsPerSecond, BurstMultiplier = GatewayBurstMultiplier() }
            : edge;
    }

    /// <summary>NGINX's default burst for a limit-rps: 5 times it.</summary>
    public const int NginxDefaultBurstMultiplier = 5;

    /// <summary>
    /// The gateway Ingress's <c>limit-burst-multiplier</c>, 0 to leave NGINX's 5: NGINX's burst is kept at least the
    /// gateway's own (<c>--rate-limit-burst</c>, 0 meaning the rate), so that a client within the gateway's limit is never
    /// cut by NGINX first (with a 503 instead of the gateway's 429 and its Retry-After). Up to 5 times the rate NGINX's
    /// default already is; above it the multiplier is the burst over the rate, rounded up.
    /// </summary>
    private int GatewayBurstMultiplier()
    {
        if (RateLimitPermitsPerSecond <= 0)
        {
            return 0;
        }

        var burst = RateLimitBurst == 0 ? RateLimitPermitsPerSecond : RateLimitBurst;
        var multiplier = (int)Math.Ceiling((double)burst / RateLimitPermitsPerSecond);
        return multiplier > NginxDefaultBurstMultiplier ? multiplier : 0;
    }

    public CpuAutoscaling? AutoscalerOf(string resource) => Autoscalers.GetValueOrDefault(resource);

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    /// <summary>
    /// The project images' <c>--registry</c> and <c>--tag</c>, refused naming the option when no image can be named with
    /// them; <c>compose generate</c> checks its own with this, since its images are named the same way.
    /// </summary>
    public static void ValidateImages(string registry, string tag)
    {
        if (string.IsNullOrWhiteSpace(registry) || registry.Contains("://", StringComparison.Ordinal))
        {
            throw new ManifestException($"--registry '{registry}' must be a registry host with an optional path, e.g. ghcr.io/me.");
        }

        if (string.IsNullOrWhiteSpace(tag) || tag.Contains(':', StringComparison.Ordinal) || tag.Contains('/', StringComparison.Ordinal))
        {
            throw new ManifestException($"--tag '{tag}' is not a valid image tag.");
        }
    }

    public void Validate()
    {
        foreach (var (name, hpa) in Autoscalers)
        {
            if (hpa.MinReplicas < 1 || hpa.MaxReplicas < hpa.MinReplicas)
            {
                throw new ManifestException($"Autoscaler of {name}: need 1 <= min ({hpa.MinReplicas}) <= max ({hpa.MaxReplicas}).");
            }
        }

        if (AutoscalerOf(AutoscaledResource) is { } processor && Partitions < processor.MaxReplicas)
        {
            throw new ManifestException(
                $"--partitions ({Partitions}) must be at least the maximum replicas ({processor.MaxReplicas}), or replicas beyond it idle.");
        }

        ValidateImages(Registry, Tag);

        if (RateLimitPermitsPerSecond < 0)
        {
            throw new ManifestException($"--rate-limit ({RateLimitPermitsPerSecond}) must be 0 or more.");
        }

        // The gateway's own rule (FilterGatewayOptions): 0 means "the rate", 1..rate-1 would cap a client at the burst per
        // second, so the pods would stop at start naming FilterGateway:RateLimitBurst.
        if (RateLimitBurst < 0 || (RateLimitBurst > 0 && RateLimitBurst < RateLimitPermitsPerSecond))
        {
            throw new ManifestException(
                $"--rate-limit-burst ({RateLimitBurst}) must be 0 (the rate) or at least --rate-limit ({RateLimitPermitsPerSecond}).");
        }

        // The gateway and the bridge stop at start on a list they cannot read (TrustedProxiesValidator, the same rule):
        // refused here, before a deploy whose public pods would only crash-loop.
        foreach (var network in ForwardedHeadersKnownNetworks.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (NetworkRule.NetworkProblem(network) is { } problem)
            {
                throw new ManifestException($"--known-networks: {problem}");
            }
        }

        // It becomes a label value in the NetworkPolicies (kubernetes.io/metadata.name), which the API server checks.
        if (!DnsLabel().IsMatch(IngressNamespace))
        {
            throw new ManifestException($"--ingress-namespace '{IngressNamespace}' is not a namespace name (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit).");
        }

        if (HaBrokers < 3)
        {
            throw new ManifestException($"HaBrokers ({HaBrokers}) must be at least 3 (replication factor 3, min.insync.replicas 2).");
        }
    }
}
