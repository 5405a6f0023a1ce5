using System.Globalization;
using k8s;
using k8s.Models;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.K8s;

/// <summary>
/// The rules the committed deploy/k8s keeps, checked on what <c>kubectl kustomize</c> renders for the base and for
/// each overlay (every object loaded strictly): one test per rule.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class DeploymentRuleTests
{
    private static readonly string[] Overlays = ["", "overlays/ha", "overlays/ingress", "overlays/keda"];

    private static readonly Lazy<Task<IReadOnlyDictionary<string, List<object>>>> Rendered = new(RenderAllAsync);

    private static async Task<IReadOnlyDictionary<string, List<object>>> RenderAllAsync()
    {
        using var temp = new TempFolder();
        var tree = Kustomize.CopyWithSecretPlaceholders(Repository.Path("deploy", "k8s"), temp.Path);
        var result = new Dictionary<string, List<object>>();
        foreach (var overlay in Overlays)
        {
            var yaml = await Kustomize.RenderAsync(Path.Combine(tree, overlay));
            // KEDA's ScaledObject has no typed model: everything else loads strictly.
            var documents = yaml.Split("\n---\n").Where(d => !d.Contains("kind: ScaledObject", StringComparison.Ordinal));
            result[overlay] = Kustomize.LoadStrict(string.Join("\n---\n", documents));
        }

        return result;
    }

    private static async Task<List<object>> RenderAsync(string overlay = "") => (await Rendered.Value.WaitAsync(TimeSpan.FromMinutes(3)))[overlay];

    public static TheoryData<string> AllOverlays => [.. Overlays];

    private static IEnumerable<(string Name, string Kind, int? Replicas, V1PodSpec Pod, V1ObjectMeta Template)> Workloads(List<object> objects)
    {
        var hpas = objects.OfType<V2HorizontalPodAutoscaler>().ToDictionary(h => h.Spec.ScaleTargetRef.Name, h => h.Spec.MinReplicas ?? 1);
        foreach (var d in objects.OfType<V1Deployment>())
        {
            // No replica count: an autoscaler owns it (an HPA here, KEDA's in the keda overlay), with a minimum of 2.
            int? replicas = hpas.TryGetValue(d.Metadata.Name, out var min) ? min : d.Spec.Replicas ?? 2;
            yield return (d.Metadata.Name, "Deployment", replicas, d.Spec.Template.Spec, d.Spec.Template.Metadata);
        }

        foreach (var s in objects.OfType<V1StatefulSet>())
        {
            yield return (s.Metadata.Name, "StatefulSet", s.Spec.Replicas ?? 1, s.Spec.Template.Spec, s.Spec.Template.Metadata);
        }
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public async Task EveryMultiReplicaWorkloadHasABudgetThatAllowsOneEvictionAndNoSingleReplicaOneHasAny(string overlay)
    {
        var objects = await RenderAsync(overlay);
        var budgets = objects.OfType<V1PodDisruptionBudget>().ToList();
        foreach (var (name, kind, replicas, _, template) in Workloads(objects))
        {
            var matching = budgets.Where(b => b.Spec.Selector.MatchLabels.All(l => template.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
            if (replicas > 1)
            {
                var budget = Assert.Single(matching);
                Assert.True(budget.Spec.MaxUnavailable?.Value == "1", $"{kind} {name}: the budget must allow one eviction (maxUnavailable: 1)");
                Assert.Null(budget.Spec.MinAvailable);
            }
            else
            {
                Assert.True(matching.Count == 0, $"{kind} {name} runs one replica: a budget could only block a node drain");
            }
        }
    }

    [Fact]
    public async Task GatewayBridgeAndAlgorithmServicesRunAtLeastTwoReplicas()
    {
        var workloads = Workloads(await RenderAsync()).ToDictionary(w => w.Name, w => w.Replicas);
        foreach (var name in new[] { "filter-gateway", "websocket-bridge", "filter-kalman", "filter-rls", "filter-ls", "filter-kafka-processor" })
        {
            Assert.True(workloads[name] >= 2, $"{name}: {workloads[name]} replica(s)");
        }

        var hpas = (await RenderAsync()).OfType<V2HorizontalPodAutoscaler>().Select(h => h.Spec.ScaleTargetRef.Name).Order().ToList();
        Assert.Equal(["filter-kafka-processor", "filter-kalman", "filter-ls", "filter-rls"], hpas);
    }

    [Fact]
    public async Task TheNamespaceEnforcesTheRestrictedPodSecurityLevel()
    {
        var ns = Assert.Single((await RenderAsync()).OfType<V1Namespace>());
        Assert.Equal("restricted", ns.Metadata.Labels["pod-security.kubernetes.io/enforce"]);
        Assert.Equal("restricted", ns.Metadata.Labels["pod-security.kubernetes.io/warn"]);
        Assert.Equal("restricted", ns.Metadata.Labels["pod-security.kubernetes.io/audit"]);
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public async Task EveryPodMeetsTheRestrictedLevel(string overlay)
    {
        var objects = await RenderAsync(overlay);
        var pods = Workloads(objects).Select(w => (w.Name, w.Pod))
            .Concat(objects.OfType<V1Job>().Select(j => (j.Metadata.Name, j.Spec.Template.Spec)));
        foreach (var (name, pod) in pods)
        {
            Assert.True(pod.SecurityContext?.RunAsNonRoot == true, $"{name}: runAsNonRoot");
            foreach (var container in pod.Containers.Concat(pod.InitContainers ?? []))
            {
                var security = container.SecurityContext;
                var where = $"{name}/{container.Name}";
                Assert.True(security?.AllowPrivilegeEscalation == false, $"{where}: allowPrivilegeEscalation");
                Assert.Equal(["ALL"], security?.Capabilities?.Drop ?? []);
                Assert.Null(security?.Capabilities?.Add);
                Assert.Equal("RuntimeDefault", security?.SeccompProfile?.Type ?? pod.SecurityContext?.SeccompProfile?.Type);
                Assert.NotEqual(true, security?.Privileged);
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public async Task TheNamespaceDeniesEverythingByDefaultButDns(string overlay)
    {
        var policies = (await RenderAsync(overlay)).OfType<V1NetworkPolicy>().ToList();
        var deny = Assert.Single(policies, p => p.Metadata.Name == "default-deny");
        Assert.True(deny.Spec.PodSelector.MatchLabels is null or { Count: 0 }, "default-deny selects every pod");
        Assert.Equal(["Ingress", "Egress"], deny.Spec.PolicyTypes);
        Assert.Null(deny.Spec.Ingress);
        Assert.Null(deny.Spec.Egress);

        var dns = Assert.Single(policies, p => p.Metadata.Name == "allow-dns");
        var rule = Assert.Single(dns.Spec.Egress);
        Assert.Equal("kube-dns", Assert.Single(rule.To).PodSelector.MatchLabels["k8s-app"]);
        Assert.All(rule.Ports, p => Assert.Equal("53", p.Port.Value));
    }

    [Fact]
    public async Task NoFlowIsOpenThatTheAppDoesNotNeed()
    {
        var objects = await RenderAsync();
        var evaluator = new NetworkPolicyEvaluator(objects.OfType<V1NetworkPolicy>().ToList());
        var apps = Workloads(objects).Select(w => w.Name).Append("kafka-topics").ToList();
        var ports = Workloads(objects).SelectMany(w => w.Pod.Containers.SelectMany(c => c.Ports ?? [])).Select(p => p.ContainerPort).ToList();

        string[] projects = ["filter-gateway", "filter-kafka-processor", "filter-kalman", "filter-ls", "filter-rls", "signal-generator", "websocket-bridge"];
        var expected = new SortedSet<string>(StringComparer.Ordinal)
        {
            // Kafka's users on its client port; Kafka to itself (its listeners through its Service).
            Flow("signal-generator", "kafka", 9092), Flow("filter-kafka-processor", "kafka", 9092), Flow("websocket-bridge", "kafka", 9092),
            Flow("kafka-topics", "kafka", 9092), Flow("kafka", "kafka", 9092), Flow("kafka", "kafka", 9093),
            // The gateway to the algorithm services, the processor to the gateway (remote mode).
            Flow("filter-gateway", "filter-kalman", 8080), Flow("filter-gateway", "filter-rls", 8080), Flow("filter-gateway", "filter-ls", 8080),
            Flow("filter-kafka-processor", "filter-gateway", 8080),
            // Processor instances ask each other for streams they hold; the bridge asks the processor (live page).
            Flow("filter-kafka-processor", "filter-kafka-processor", 8080), Flow("websocket-bridge", "filter-kafka-processor", 8080),
        };
        foreach (var project in projects)
        {
            expected.Add(Flow(project, "aspire-dashboard", 18889)); // OTLP
        }

        Assert.Equal(expected, evaluator.AllowedFlows(apps, ports));
    }

    [Fact]
    public async Task OnlyTheIngressControllerReachesTheGatewayAndTheBridgeFromOutside()
    {
        var policies = (await RenderAsync()).OfType<V1NetworkPolicy>().ToList();
        var fromOutside = policies
            .SelectMany(p => (p.Spec.Ingress ?? []).SelectMany(r => r.FromProperty ?? []).Where(x => x.NamespaceSelector is not null).Select(x => (p.Metadata.Name, x)))
            .ToList();

        Assert.Equal(["filter-gateway", "websocket-bridge"], fromOutside.Select(f => f.Name).Order());
        Assert.All(fromOutside, f => Assert.Equal("ingress-nginx", f.x.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]));
    }

    private static string Flow(string from, string to, int port) => NetworkPolicyEvaluator.Flow(from, to, port);

    [Fact]
    public async Task TheDashboardTakesTelemetryOnlyWithTheApiKeyFromItsSecret()
    {
        var objects = await RenderAsync();
        var dashboard = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "aspire-dashboard").Spec.Template.Spec.Containers.Single();
        Assert.Equal("ApiKey", dashboard.Env.Single(e => e.Name == "Dashboard__Otlp__AuthMode").Value);
        var key = dashboard.Env.Single(e => e.Name == "Dashboard__Otlp__PrimaryApiKey").ValueFrom.SecretKeyRef;
        Assert.Equal(("aspire-dashboard-otlp", "api-key"), (key.Name, key.Key));

        foreach (var project in objects.OfType<V1Deployment>().Where(d => d.Metadata.Name != "aspire-dashboard"))
        {
            var env = project.Spec.Template.Spec.Containers.Single().Env;
            Assert.Equal("aspire-dashboard-otlp", env.Single(e => e.Name == "OTLP_API_KEY").ValueFrom.SecretKeyRef.Name);
            Assert.Equal("x-otlp-api-key=$(OTLP_API_KEY)", env.Single(e => e.Name == "OTEL_EXPORTER_OTLP_HEADERS").Value);
        }

        Assert.DoesNotContain(objects, o => o is V1Secret); // referenced by name, created by the user, never committed
    }

    [Fact]
    public async Task PublicServicesTrustForwardedHeadersOnlyFromTheIngressNetworkAndTheGatewayIsRateLimited()
    {
        var maps = (await RenderAsync()).OfType<V1ConfigMap>().ToDictionary(c => c.Metadata.Name, c => c.Data);
        Assert.Equal("10.0.0.0/8", maps["filter-gateway-env"]["ForwardedHeaders__KnownNetworks"]);
        Assert.Equal("10.0.0.0/8", maps["websocket-bridge-env"]["ForwardedHeaders__KnownNetworks"]);
        Assert.Equal("200", maps["filter-gateway-env"]["FilterGateway__RateLimitPermitsPerSecond"]);
        Assert.Equal("400", maps["filter-gateway-env"]["FilterGateway__RateLimitBurst"]);
        Assert.DoesNotContain("ForwardedHeaders__KnownNetworks", maps["filter-kalman-env"].Keys);
    }

    [Fact]
    public async Task TheIngressLimitsConnectionsAndRequestsPerClientAddressAndPassesWhatTheGatewayAndTheBridgeAccept()
    {
        const string Nginx = "nginx.ingress.kubernetes.io/";
        var objects = await RenderAsync("overlays/ingress");
        var annotations = objects.OfType<V1Ingress>().ToDictionary(i => i.Spec.Rules.Single().Http.Paths.Single().Backend.Service.Name, i => i.Metadata.Annotations);
        Assert.Equal(["filter-gateway", "websocket-bridge"], annotations.Keys.Order());
        var gateway = annotations["filter-gateway"];
        var bridge = annotations["websocket-bridge"];
        var gatewayOptions = new global::FilterGateway.FilterGatewayOptions();

        // NGINX's default body limit (1 MiB) would refuse, with its own HTML page, bodies the gateway accepts.
        var bodySize = gateway[Nginx + "proxy-body-size"];
        Assert.EndsWith("m", bodySize, StringComparison.Ordinal);
        Assert.Equal(gatewayOptions.MaxRequestBodyBytes, long.Parse(bodySize[..^1], CultureInfo.InvariantCulture) * 1024 * 1024);

        // The gateway gives up on a silent service before NGINX gives up on the gateway, so the client gets the gateway's answer.
        Assert.True(int.Parse(gateway[Nginx + "proxy-read-timeout"], CultureInfo.InvariantCulture) > gatewayOptions.ForwardActivityTimeout.TotalSeconds);

        // The bridges' own per-address cap over all their pods: NGINX refuses only what the bridges would refuse, before
        // each refusal costs a bridge a connection; the live page's sockets stay open for an hour.
        var bridgeReplicas = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "websocket-bridge").Spec.Replicas;
        Assert.Equal(new global::WebSocketBridge.BridgeOptions().MaxConnectionsPerAddress * bridgeReplicas, int.Parse(bridge[Nginx + "limit-connections"], CultureInfo.InvariantCulture));
        Assert.Equal("3600", bridge[Nginx + "proxy-read-timeout"]);
        Assert.DoesNotContain(Nginx + "proxy-body-size", bridge.Keys);

        Assert.Equal("32", gateway[Nginx + "limit-connections"]);

        // Requests per client address and second: the gateway's own rate limit, as its ConfigMap sets it (NGINX refuses
        // the flood before it costs a pod anything); the bridge, which has no rate limit of its own, 20.
        var maps = objects.OfType<V1ConfigMap>().ToDictionary(m => m.Metadata.Name, m => m.Data);
        Assert.Equal(maps["filter-gateway-env"]["FilterGateway__RateLimitPermitsPerSecond"], gateway[Nginx + "limit-rps"]);
        Assert.Equal("20", bridge[Nginx + "limit-rps"]);
    }

    [Theory]
    [MemberData(nameof(AllOverlays))]
    public async Task EveryHttpPodServesOnWhileItsEndpointsForgetItThenHasTheHostsShutdownTimeoutToDrain(string overlay)
    {
        // On a rolling update or a scale-down the endpoints and the ingress controller keep sending a terminating pod
        // requests for a moment: a preStop sleep keeps it serving until SIGTERM. The grace period counts from the stop,
        // the sleep included, so it must also cover the app's drain: .NET's HostOptions.ShutdownTimeout, which the services keep.
        var shutdown = new Microsoft.Extensions.Hosting.HostOptions().ShutdownTimeout.TotalSeconds;
        var objects = await RenderAsync(overlay);
        var http = Workloads(objects).Where(w => w.Pod.Containers.Any(c => c.ReadinessProbe?.HttpGet is not null)).ToList();
        Assert.Superset(
            new HashSet<string> { "filter-kalman", "filter-rls", "filter-ls", "filter-gateway", "websocket-bridge", "filter-kafka-processor" },
            http.Select(w => w.Name).ToHashSet());
        foreach (var (name, kind, _, pod, _) in http)
        {
            foreach (var container in pod.Containers)
            {
                // Kubernetes' own sleep action (1.30+): an exec of sleep needs a shell or binary the images may not have.
                var sleep = container.Lifecycle?.PreStop?.Sleep?.Seconds;
                Assert.True(sleep >= 1, $"{kind} {name}/{container.Name}: no preStop sleep action");
                Assert.True(pod.TerminationGracePeriodSeconds > sleep + shutdown,
                    $"{kind} {name}: terminationGracePeriodSeconds {pod.TerminationGracePeriodSeconds} is not above the preStop sleep ({sleep} s) and the host's shutdown timeout ({shutdown} s)");
            }
        }
    }

    [Fact]
    public async Task TheProcessorsTransactionalIdFollowsItsPodAndNoOtherWorkloadSetsOne()
    {
        var deployments = (await RenderAsync()).OfType<V1Deployment>().ToList();
        foreach (var deployment in deployments)
        {
            var container = deployment.Spec.Template.Spec.Containers.Single();
            var instance = container.Env?.SingleOrDefault(e => e.Name == "Processor__InstanceId");
            if (deployment.Metadata.Name == "filter-kafka-processor")
            {
                Assert.Equal("$(POD_NAME)", instance?.Value);
                var podName = container.Env!.Single(e => e.Name == "POD_NAME");
                Assert.Equal("metadata.name", podName.ValueFrom.FieldRef.FieldPath);
                Assert.True(container.Env!.IndexOf(podName) < container.Env.IndexOf(instance!), "POD_NAME must come first for $(POD_NAME) to expand");

                // The address it announces in its instance directory, so its peers forward stream questions to the pod.
                Assert.Equal("status.podIP", container.Env!.Single(e => e.Name == "POD_IP").ValueFrom.FieldRef.FieldPath);
            }
            else
            {
                Assert.Null(instance);
                Assert.DoesNotContain(container.Env ?? [], e => e.Name == "POD_IP");
            }
        }
    }

    [Fact]
    public async Task EveryKafkaUserTakesTheOptionalKafkaClientSecret()
    {
        var deployments = (await RenderAsync()).OfType<V1Deployment>().ToDictionary(d => d.Metadata.Name);
        foreach (var name in new[] { "signal-generator", "filter-kafka-processor", "websocket-bridge" })
        {
            var pod = deployments[name].Spec.Template.Spec;
            var secret = Assert.Single(pod.Containers.Single().EnvFrom, e => e.SecretRef?.Name == "kafka-client").SecretRef;
            Assert.True(secret.Optional, $"{name}: a plaintext cluster needs no Secret");
            Assert.Contains(pod.Volumes, v => v.Secret?.SecretName == "kafka-client-tls" && v.Secret.Optional == true);
        }

        Assert.DoesNotContain(deployments["filter-gateway"].Spec.Template.Spec.Containers.Single().EnvFrom, e => e.SecretRef?.Name == "kafka-client");
    }

    [Fact]
    public async Task EveryHpaHasTheDocumentedRangeTargetAndPace()
    {
        // docs/kubernetes.md, "Replicas, scaling and disruption budgets": the processor 2..20 at 60% CPU, the algorithm
        // services 2..6 at 70%; up by 4 pods or 100% per 30 s, down one pod a minute after a 300 s window.
        var hpas = (await RenderAsync()).OfType<V2HorizontalPodAutoscaler>().ToDictionary(h => h.Spec.ScaleTargetRef.Name);
        Assert.Equal(["filter-kafka-processor", "filter-kalman", "filter-ls", "filter-rls"], hpas.Keys.Order());
        foreach (var (name, hpa) in hpas)
        {
            var (min, max, cpu) = name == "filter-kafka-processor" ? (2, 20, 60) : (2, 6, 70);
            var metric = Assert.Single(hpa.Spec.Metrics);
            Assert.Equal((min, max, "cpu", "Utilization", (int?)cpu), (hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, metric.Resource.Name, metric.Resource.Target.Type, metric.Resource.Target.AverageUtilization));

            var up = hpa.Spec.Behavior.ScaleUp;
            Assert.Equal(("Max", 0), (up.SelectPolicy, up.StabilizationWindowSeconds));
            Assert.Equal([("Pods", 4, 30), ("Percent", 100, 30)], up.Policies.Select(p => (p.Type, p.Value, p.PeriodSeconds)));
            var down = hpa.Spec.Behavior.ScaleDown;
            Assert.Equal(("Min", 300), (down.SelectPolicy, down.StabilizationWindowSeconds));
            Assert.Equal([("Pods", 1, 60)], down.Policies.Select(p => (p.Type, p.Value, p.PeriodSeconds)));
        }
    }

    [Fact]
    public async Task TheTopicsJobCreatesEveryPipelineTopicWithItsConfigs()
    {
        foreach (var (overlay, replicas) in new[] { ("", 1), ("overlays/ha", 3) })
        {
            var job = Assert.Single((await RenderAsync(overlay)).OfType<V1Job>());
            Assert.Equal(3600, job.Spec.TtlSecondsAfterFinished); // docs/kubernetes.md: it removes itself an hour after finishing
            var script = job.Spec.Template.Spec.Containers.Single().Command.Last();
            foreach (var topic in PipelineTopics.All)
            {
                Assert.Contains($"--topic {topic.Name} --partitions 20 --replication-factor {replicas}", script);
                Assert.All(topic.Configs, c => Assert.Contains($"--config {c.Key}={c.Value}", script));
            }
        }
    }

    [Fact]
    public async Task TheHaOverlayRunsThreeDurableBrokersOfTheUpstreamImage()
    {
        var objects = await RenderAsync("overlays/ha");
        var kafka = Assert.Single(objects.OfType<V1StatefulSet>());
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "kafka-env").Data;

        Assert.Equal(3, kafka.Spec.Replicas);
        Assert.StartsWith("docker.io/apache/kafka:", kafka.Spec.Template.Spec.Containers.Single().Image);
        Assert.Equal(("3", "2"), (config["KAFKA_DEFAULT_REPLICATION_FACTOR"], config["KAFKA_MIN_INSYNC_REPLICAS"]));
        Assert.Equal(("3", "2"), (config["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"], config["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]));
        Assert.Equal("3", config["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]);
        Assert.Equal(3, config["KAFKA_CONTROLLER_QUORUM_VOTERS"].Split(',').Length);
        Assert.Equal("Parallel", kafka.Spec.PodManagementPolicy); // the quorum forms only with its voters up together
        Assert.Equal("false", config["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"]);
        var claim = Assert.Single(kafka.Spec.VolumeClaimTemplates);
        Assert.Equal("10Gi", claim.Spec.Resources.Requests["storage"].ToString());
        var antiAffinity = Assert.Single(kafka.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution);
        Assert.Equal("kubernetes.io/hostname", antiAffinity.TopologyKey);
        Assert.Contains(objects.OfType<V1PodDisruptionBudget>(), b => b.Metadata.Name == "kafka");

        // Everything else is the base's.
        var base_ = await RenderAsync();
        Assert.Equal(base_.OfType<V1Deployment>().Select(d => d.Metadata.Name).Order(), objects.OfType<V1Deployment>().Select(d => d.Metadata.Name).Order());
        Assert.Contains("confluent-local", Assert.Single(base_.OfType<V1StatefulSet>()).Spec.Template.Spec.Containers.Single().Image);
    }

    [Theory]
    [InlineData("")]
    [InlineData("overlays/ha")]
    public async Task EveryListenerTheBrokerAdvertisesIsReachableAtTheAddressItAdvertises(string overlay)
    {
        // Clients, the other brokers and the broker itself (the transaction coordinator writes every transaction's
        // markers through the inter-broker listener, even to itself) connect to what is advertised, not to what is bound.
        var objects = await RenderAsync(overlay);
        var kafka = Assert.Single(objects.OfType<V1StatefulSet>());
        var broker = kafka.Spec.Template.Spec.Containers.Single();
        var config = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "kafka-env").Data;
        var bound = KafkaListeners(config["KAFKA_LISTENERS"]);

        // The ha brokers advertise their own pod's name, set from the ordinal in the start command.
        var advertisedText = config.TryGetValue("KAFKA_ADVERTISED_LISTENERS", out var value) ? value
            : System.Text.RegularExpressions.Regex.Match(broker.Command.Last(), "KAFKA_ADVERTISED_LISTENERS=\"([^\"]+)\"").Groups[1].Value
                .Replace("${HOSTNAME}", kafka.Metadata.Name + "-0", StringComparison.Ordinal);
        var advertised = KafkaListeners(advertisedText);
        Assert.NotEmpty(advertised);

        foreach (var (name, (host, port)) in advertised)
        {
            var (bindHost, bindPort) = bound[name];
            var where = $"{overlay}: {name}://{host}:{port} (bound to {bindHost}:{bindPort})";
            if (host is "localhost" or "127.0.0.1")
            {
                // Only the pod itself reaches it: fine for the one broker of the base, never for a cluster of them.
                Assert.True(port == bindPort && bindHost is "localhost" or "127.0.0.1" or "0.0.0.0" or "", where);
                Assert.True(kafka.Spec.Replicas == 1, $"{where}: another broker cannot reach a loopback address");
                continue;
            }

            Assert.False(bindHost is "localhost" or "127.0.0.1", $"{where}: a listener bound to loopback is reachable only inside its pod");
            // "kafka": a Service; "kafka-0.kafka-headless": a pod of the StatefulSet through its headless Service; either
            // may be qualified with ".<namespace>.svc" (resolvable from other namespaces).
            var labels = StripServiceDomain(host, kafka.Metadata.NamespaceProperty).Split('.');
            var service = objects.OfType<V1Service>().SingleOrDefault(s => s.Metadata.Name == labels[labels.Length == 1 ? 0 : 1]);
            Assert.True(service is not null, $"{where}: no Service for {host}");
            Assert.True(labels.Length == 1 || (service.Spec.ClusterIP == "None" && labels[0].StartsWith(kafka.Metadata.Name + "-", StringComparison.Ordinal)), $"{where}: not a broker pod's name");
            var servicePort = service.Spec.Ports.SingleOrDefault(p => p.Port == port);
            Assert.True(servicePort is not null, $"{where}: Service {service.Metadata.Name} has no port {port}");
            var target = ContainerPort(broker.Ports, servicePort);
            Assert.True(target == bindPort, $"{where}: Service port {port} leads to {target}");
        }
    }

    [Fact]
    public async Task TheKedaOperatorReachesKafkaFromItsOwnNamespace()
    {
        // KEDA's operator runs in the keda namespace and reads the lag itself: it bootstraps from the trigger's address,
        // then connects to what the broker advertises. A bare Service name (kafka) is looked up there as kafka.keda.
        using var temp = new TempFolder();
        var tree = Kustomize.CopyWithSecretPlaceholders(Repository.Path("deploy", "k8s"), temp.Path);
        var scaledObject = KubernetesGeneratorTests.AssertKedaOverlay(await Kustomize.RenderAsync(Path.Combine(tree, "overlays", "keda")));
        var objects = await RenderAsync("overlays/keda");
        var kafka = Assert.Single(objects.OfType<V1StatefulSet>());
        var ns = kafka.Metadata.NamespaceProperty;
        Assert.NotEqual(KedaNamespace, ns);

        var bootstrap = scaledObject["spec"]["triggers"][0]["metadata"]["bootstrapServers"].ToString();
        var colon = bootstrap.LastIndexOf(':');
        var (host, port) = (bootstrap[..colon], int.Parse(bootstrap[(colon + 1)..], CultureInfo.InvariantCulture));
        var serviceName = StripServiceDomain(host, ns);
        Assert.True(serviceName != host, $"bootstrapServers {bootstrap}: not resolvable from the {KedaNamespace} namespace (want <service>.{ns}.svc)");
        var service = objects.OfType<V1Service>().Single(s => s.Metadata.Name == serviceName);
        var servicePort = service.Spec.Ports.Single(p => p.Port == port);
        var containerPort = ContainerPort(kafka.Spec.Template.Spec.Containers.Single().Ports, servicePort);

        var config = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "kafka-env").Data;
        var bound = KafkaListeners(config["KAFKA_LISTENERS"]);
        var listener = bound.Single(l => l.Value.Port == containerPort).Key;
        var advertised = KafkaListeners(config["KAFKA_ADVERTISED_LISTENERS"])[listener].Host;
        Assert.True(StripServiceDomain(advertised, ns) != advertised, $"{listener} advertises {advertised}: not resolvable from the {KedaNamespace} namespace");
    }

    private const string KedaNamespace = "keda";

    /// <summary>The container port a Service port's targetPort (a name or a number) leads to.</summary>
    private static int ContainerPort(IList<V1ContainerPort> ports, V1ServicePort servicePort) => ports
        .Single(p => p.Name == servicePort.TargetPort.Value || p.ContainerPort.ToString(CultureInfo.InvariantCulture) == servicePort.TargetPort.Value).ContainerPort;

    /// <summary><paramref name="host"/> without a trailing <c>.namespace.svc</c> (unchanged when it has none).</summary>
    private static string StripServiceDomain(string host, string ns) =>
        host.EndsWith($".{ns}.svc", StringComparison.Ordinal) ? host[..^$".{ns}.svc".Length] : host;

    /// <summary><c>NAME://host:port,...</c> by listener name.</summary>
    private static Dictionary<string, (string Host, int Port)> KafkaListeners(string text) => text.Split(',').Select(l =>
    {
        var scheme = l.IndexOf("://", StringComparison.Ordinal);
        var address = l[(scheme + 3)..];
        var colon = address.LastIndexOf(':');
        return (Name: l[..scheme], Host: address[..colon], Port: int.Parse(address[(colon + 1)..], CultureInfo.InvariantCulture));
    }).ToDictionary(l => l.Name, l => (l.Host, l.Port));

    [Theory]
    [InlineData("")]
    [InlineData("overlays/ha")]
    public async Task TheTroubleshootingDebugPoliciesLetTheDebugPodReachTheGatewayAndKafkaAndNothingElse(string overlay)
    {
        // docs/kubernetes.md, "Troubleshooting": the NetworkPolicies a user applies for a debug pod labelled
        // app=pipeline-debug, which then curls filter-gateway:8000, runs kcat against kafka:9092, and times out on
        // filter-kalman (it admits only the gateway). The snippet is loaded as the user's kubectl would take it.
        const string Start = "kubectl apply -n signal-processing -f - <<'EOF'\n";
        var doc = File.ReadAllText(Repository.Path("docs", "kubernetes.md")).ReplaceLineEndings("\n");
        var from = doc.IndexOf(Start, StringComparison.Ordinal);
        Assert.True(from >= 0, "the debug NetworkPolicy snippet is gone from docs/kubernetes.md");
        from += Start.Length;
        var debugPolicies = Kustomize.LoadStrict(doc[from..doc.IndexOf("\nEOF\n", from, StringComparison.Ordinal)]).OfType<V1NetworkPolicy>().ToList();
        Assert.Equal(3, debugPolicies.Count);

        var objects = await RenderAsync(overlay);
        var evaluator = new NetworkPolicyEvaluator([.. objects.OfType<V1NetworkPolicy>(), .. debugPolicies]);
        int PodPort(string service, int servicePort)
        {
            var port = objects.OfType<V1Service>().Single(s => s.Metadata.Name == service).Spec.Ports.Single(p => p.Port == servicePort);
            var pod = Workloads(objects).Single(w => w.Name == service).Pod;
            return ContainerPort([.. pod.Containers.SelectMany(c => c.Ports ?? [])], port);
        }

        Assert.True(evaluator.Allows("pipeline-debug", "filter-gateway", PodPort("filter-gateway", 8000)), "curl http://filter-gateway:8000");
        Assert.True(evaluator.Allows("pipeline-debug", "kafka", PodPort("kafka", 9092)), "kcat -b kafka:9092");
        Assert.False(evaluator.Allows("pipeline-debug", "filter-kalman", PodPort("filter-kalman", 8080)), "filter-kalman admits only the gateway");

        // A label of its own: no workload's Service, budget or pods select the debug pod.
        static bool Debug(IDictionary<string, string>? labels) => labels is not null && labels.TryGetValue("app", out var app) && app == "pipeline-debug";
        Assert.DoesNotContain(objects.OfType<V1Service>(), s => Debug(s.Spec.Selector));
        Assert.DoesNotContain(objects.OfType<V1PodDisruptionBudget>(), b => Debug(b.Spec.Selector.MatchLabels));
        Assert.DoesNotContain(Workloads(objects), w => Debug(w.Template.Labels));
    }

    [Fact]
    public async Task InTheHaOverlayBrokersReachEachOtherAndTheAppOnlyTheClientPort()
    {
        var objects = await RenderAsync("overlays/ha");
        var evaluator = new NetworkPolicyEvaluator(objects.OfType<V1NetworkPolicy>().ToList());

        Assert.True(evaluator.Allows("kafka", "kafka", 9094), "the KRaft quorum");
        Assert.True(evaluator.Allows("kafka", "kafka", 9092), "replication");
        Assert.True(evaluator.Allows("filter-kafka-processor", "kafka", 9092));
        Assert.True(evaluator.Allows("kafka-topics", "kafka", 9092));
        Assert.False(evaluator.Allows("filter-kafka-processor", "kafka", 9094));
        Assert.False(evaluator.Allows("filter-gateway", "kafka", 9092));
    }
}
