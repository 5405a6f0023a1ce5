using System.Globalization;
using k8s;
using k8s.Models;
using SignalPipeline.Cli.Kubernetes;
using YamlDotNet.RepresentationModel;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.K8s;

/// <summary>
/// The generator's logic on a manifest of the intended final shape (TestData/aspire-manifest.sample.json: Kafka
/// container, three algorithm services of one project, gateway, processor, bridge, generator, parameters).
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class KubernetesGeneratorTests
{
    private static readonly string SamplePath = Repository.Path("SignalPipeline.Tests", "K8s", "TestData", "aspire-manifest.sample.json");

    private static readonly string[] AlgorithmServices = ["filter-kalman", "filter-rls", "filter-ls"];

    private static AspireManifest Sample => AspireManifest.Load(SamplePath);

    public static TheoryData<string, KubernetesOptions> BadOptions => new()
    {
        { "--registry 'https://ghcr.io/me' must be a registry host", new KubernetesOptions { Registry = "https://ghcr.io/me" } },
        { "--registry ' ' must be a registry host", new KubernetesOptions { Registry = " " } },
        { "--tag 'v1:2' is not a valid image tag.", new KubernetesOptions { Tag = "v1:2" } },
        { "--tag 'a/b' is not a valid image tag.", new KubernetesOptions { Tag = "a/b" } },
        { "--rate-limit (-1) must be 0 or more", new KubernetesOptions { RateLimitPermitsPerSecond = -1 } },
        { "--rate-limit-burst (10) must be 0 (the rate) or at least --rate-limit (200).", new KubernetesOptions { RateLimitPermitsPerSecond = 200, RateLimitBurst = 10 } },
        { "--rate-limit-burst (199) must be 0 (the rate) or at least --rate-limit (200).", new KubernetesOptions { RateLimitPermitsPerSecond = 200, RateLimitBurst = 199 } },
        { "--rate-limit-burst (-1) must be 0 (the rate) or at least --rate-limit (200).", new KubernetesOptions { RateLimitPermitsPerSecond = 200, RateLimitBurst = -1 } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void ABadRegistryTagOrRateLimitIsRefusedNamingTheOption(string message, KubernetesOptions options)
    {
        var error = Assert.Throws<ManifestException>(() => Generate(options));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    private static IReadOnlyList<GeneratedFile> Generate(KubernetesOptions? options = null) =>
        new KubernetesGenerator(Sample, options ?? new KubernetesOptions()).Generate();

    private static T Load<T>(IReadOnlyList<GeneratedFile> files, string path)
    {
        var file = files.SingleOrDefault(f => f.Path == path) ?? throw new Xunit.Sdk.XunitException($"{path} was not generated.");
        return Assert.IsType<T>(Assert.Single(Kustomize.LoadStrict(file.Content)));
    }

    [Theory]
    [InlineData(50, 100, "50")]
    [InlineData(1000, 2000, "1000")]
    [InlineData(0, 400, null)]
    public void TheGatewaysIngressRequestLimitFollowsRateLimitAsItsConfigMapDoes(int rateLimit, int burst, string? limitRps)
    {
        const string LimitRps = "nginx.ingress.kubernetes.io/limit-rps";
        var files = Generate(new KubernetesOptions { RateLimitPermitsPerSecond = rateLimit, RateLimitBurst = burst });

        var gateway = Load<V1Ingress>(files, "overlays/ingress/ingress-filter-gateway.yaml").Metadata.Annotations;
        var config = Load<V1ConfigMap>(files, "filter-gateway/configmap.yaml").Data;

        Assert.Equal(limitRps, gateway.TryGetValue(LimitRps, out var rps) ? rps : null);
        Assert.Equal(limitRps, config.TryGetValue("FilterGateway__RateLimitPermitsPerSecond", out var permits) ? permits : null);
        // The bridge's own request limit does not move with the gateway's.
        Assert.Equal("20", Load<V1Ingress>(files, "overlays/ingress/ingress-websocket-bridge.yaml").Metadata.Annotations[LimitRps]);
    }

    [Theory]
    [InlineData(200, 400, null)]
    [InlineData(200, 1000, null)]
    [InlineData(200, 1001, "6")]
    [InlineData(100, 2000, "20")]
    [InlineData(200, 0, null)]
    [InlineData(0, 5000, null)]
    public void TheGatewaysIngressBurstIsNeverBelowTheGatewaysOwn(int rateLimit, int burst, string? multiplier)
    {
        // NGINX's burst is limit-rps times limit-burst-multiplier (5 when unset). Below the gateway's burst, NGINX would cut
        // a client the gateway lets through, with a 503 instead of the gateway's 429; until 2026-12-05 any
        // --rate-limit-burst above 5 times --rate-limit was cut so.
        const string Multiplier = "nginx.ingress.kubernetes.io/limit-burst-multiplier";
        var files = Generate(new KubernetesOptions { RateLimitPermitsPerSecond = rateLimit, RateLimitBurst = burst });

        var gateway = Load<V1Ingress>(files, "overlays/ingress/ingress-filter-gateway.yaml").Metadata.Annotations;
        Assert.Equal(multiplier, gateway.TryGetValue(Multiplier, out var written) ? written : null);
        var nginxBurst = rateLimit * (multiplier is null ? KubernetesOptions.NginxDefaultBurstMultiplier : int.Parse(multiplier, CultureInfo.InvariantCulture));
        Assert.True(rateLimit == 0 || nginxBurst >= Math.Max(burst, rateLimit), $"NGINX's burst {nginxBurst} is below the gateway's {burst}");
        Assert.DoesNotContain(Multiplier, Load<V1Ingress>(files, "overlays/ingress/ingress-websocket-bridge.yaml").Metadata.Annotations.Keys);
    }

    [Fact]
    public void ABurstOfZeroIsWrittenAsTheGatewayReadsItTheRateAndItsIngressIsThatOfABurstEqualToTheRate()
    {
        // The gateway takes FilterGateway:RateLimitBurst = 0 as "the rate" (FilterGatewayOptions); until 2026-12-05
        // k8s generate refused --rate-limit-burst 0.
        var zero = Generate(new KubernetesOptions { RateLimitPermitsPerSecond = 200, RateLimitBurst = 0 });
        var rate = Generate(new KubernetesOptions { RateLimitPermitsPerSecond = 200, RateLimitBurst = 200 });

        var config = Load<V1ConfigMap>(zero, "filter-gateway/configmap.yaml").Data;
        Assert.Equal("200", config["FilterGateway__RateLimitPermitsPerSecond"]);
        Assert.Equal("0", config["FilterGateway__RateLimitBurst"]);
        Assert.Equal(
            Load<V1Ingress>(rate, "overlays/ingress/ingress-filter-gateway.yaml").Metadata.Annotations,
            Load<V1Ingress>(zero, "overlays/ingress/ingress-filter-gateway.yaml").Metadata.Annotations);
    }

    [Fact]
    public void AConfigChangeChangesTheConfigHashOfThePodsThatReadItOnly()
    {
        // docs/kubernetes.md: a ConfigMap change alone restarts no pod; the hash in the pod template does.
        static Dictionary<string, string> Hashes(IReadOnlyList<GeneratedFile> files) => files
            .Where(f => f.Path.EndsWith("/deployment.yaml", StringComparison.Ordinal) && !f.Path.StartsWith("overlays/", StringComparison.Ordinal))
            .Select(f => Assert.IsType<V1Deployment>(Assert.Single(Kustomize.LoadStrict(f.Content))))
            .Where(d => d.Spec.Template.Metadata.Annotations?.ContainsKey("signal-pipeline/config-hash") == true)
            .ToDictionary(d => d.Metadata.Name, d => d.Spec.Template.Metadata.Annotations["signal-pipeline/config-hash"]);
        var before = Hashes(Generate(new KubernetesOptions { RateLimitPermitsPerSecond = 200 }));
        var after = Hashes(Generate(new KubernetesOptions { RateLimitPermitsPerSecond = 300 }));

        Assert.Contains("filter-gateway", before.Keys);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.Equal(["filter-gateway"], before.Keys.Where(name => before[name] != after[name]));
    }

    [Fact]
    public void WritesAspirateLayoutWithAFolderPerResource()
    {
        var paths = Generate().Select(f => f.Path).ToHashSet();

        Assert.Contains("kustomization.yaml", paths);
        Assert.Contains("namespace/namespace.yaml", paths);
        Assert.Contains("namespace/default-deny.yaml", paths);
        foreach (var project in new[] { "filter-kalman", "filter-rls", "filter-ls", "filter-gateway", "filter-kafka-processor", "websocket-bridge", "signal-generator" })
        {
            Assert.Contains($"{project}/deployment.yaml", paths);
            Assert.Contains($"{project}/service.yaml", paths);
            Assert.Contains($"{project}/configmap.yaml", paths);
            Assert.Contains($"{project}/kustomization.yaml", paths);
        }

        Assert.Contains("kafka/statefulset.yaml", paths);
        Assert.Contains("kafka/headless-service.yaml", paths);
        Assert.Contains("kafka/topics-job.yaml", paths);
        Assert.Contains("aspire-dashboard/deployment.yaml", paths);
        Assert.DoesNotContain(paths, p => p.StartsWith("kafka-partitions", StringComparison.Ordinal) || p.StartsWith("gateway-api-key", StringComparison.Ordinal));
    }

    [Fact]
    public void ResolvesManifestExpressionsToClusterDns()
    {
        var files = Generate();
        var gateway = Load<V1ConfigMap>(files, "filter-gateway/configmap.yaml").Data;
        var processor = Load<V1ConfigMap>(files, "filter-kafka-processor/configmap.yaml").Data;
        var kafka = Load<V1ConfigMap>(files, "kafka/configmap.yaml").Data;

        Assert.Equal("http://filter-kalman:8080", gateway["services__filter-kalman__http__0"]);
        Assert.Equal("http://filter-ls:8080", gateway["FILTER_LS_HTTP"]);
        Assert.Equal("8080", gateway["HTTP_PORTS"]);
        Assert.Equal("kafka:9092", processor["KAFKA_BROKERS"]);
        Assert.Equal("kafka:9092", processor["ConnectionStrings__kafka"]);
        Assert.Equal("http://filter-rls:8080", processor["RLS_SERVICE_URL"]);
        Assert.Equal("20", processor["Kafka__Partitions"]); // parameter default
        // The broker advertises names that resolve from every namespace (KEDA's operator reads the lag from its own).
        Assert.Equal("PLAINTEXT://kafka.signal-processing.svc:29092,PLAINTEXT_HOST://kafka.signal-processing.svc:9092,PLAINTEXT_INTERNAL://kafka.signal-processing.svc:9093", kafka["KAFKA_ADVERTISED_LISTENERS"]);

        // https has no in-cluster equivalent: those variables are left out, not set to a wrong URL.
        Assert.DoesNotContain(gateway.Keys, k => k.Contains("HTTPS", StringComparison.OrdinalIgnoreCase) || k.Contains("__https__", StringComparison.Ordinal));
        Assert.All(files.Where(f => f.Path.EndsWith("configmap.yaml", StringComparison.Ordinal)), f => Assert.DoesNotContain("{", f.Content));
    }

    [Fact]
    public void EveryProjectSendsTelemetryToTheDashboard()
    {
        var files = Generate();
        foreach (var resource in Sample.Resources.Values.Where(r => r.IsProject))
        {
            var env = Load<V1ConfigMap>(files, $"{resource.Name}/configmap.yaml").Data;
            Assert.Equal("http://aspire-dashboard:18889", env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
            Assert.Equal(resource.Name, env["OTEL_SERVICE_NAME"]);
        }

        var dashboard = Load<V1Service>(files, "aspire-dashboard/service.yaml");
        Assert.Contains(dashboard.Spec.Ports, p => p.Port == 18889 && p.Name == "otlp-grpc");
    }

    [Fact]
    public void ProjectsOfOneProjectShareAnImageNamedFromTheRegistryAndTag()
    {
        var options = new KubernetesOptions { Registry = "registry.example.com/team", Tag = "1.2.3" };
        var generator = new KubernetesGenerator(Sample, options);
        var files = generator.Generate();

        foreach (var name in AlgorithmServices)
        {
            var image = Load<V1Deployment>(files, $"{name}/deployment.yaml").Spec.Template.Spec.Containers.Single().Image;
            Assert.Equal("registry.example.com/team/filter-service:1.2.3", image);
        }

        Assert.Equal("registry.example.com/team/filter-gateway:1.2.3", Load<V1Deployment>(files, "filter-gateway/deployment.yaml").Spec.Template.Spec.Containers.Single().Image);
        var images = generator.ProjectImages();
        Assert.Equal(5, images.Count); // FilterService, gateway, processor, bridge, generator
        Assert.Equal(AlgorithmServices.Order(), images.Single(i => i.Repository == "filter-service").Resources.Order());
        Assert.EndsWith("FilterService/FilterService.csproj", images.Single(i => i.Repository == "filter-service").ProjectPath.Replace('\\', '/'));
    }

    [Fact]
    public void AutoscalerHasTheGuideNumbersAndTheTargetRequestsCpu()
    {
        var files = Generate();
        var hpa = Load<V2HorizontalPodAutoscaler>(files, "filter-kafka-processor/hpa.yaml");

        Assert.Equal("autoscaling/v2", hpa.ApiVersion);
        Assert.Equal(("apps/v1", "Deployment", "filter-kafka-processor"), (hpa.Spec.ScaleTargetRef.ApiVersion, hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name));
        Assert.Equal(2, hpa.Spec.MinReplicas);
        Assert.Equal(20, hpa.Spec.MaxReplicas);
        var metric = Assert.Single(hpa.Spec.Metrics);
        Assert.Equal(("cpu", "Utilization", 60), (metric.Resource.Name, metric.Resource.Target.Type, metric.Resource.Target.AverageUtilization!.Value));
        Assert.True(hpa.Spec.Behavior.ScaleDown.StabilizationWindowSeconds >= 60);

        var processor = Load<V1Deployment>(files, "filter-kafka-processor/deployment.yaml");
        Assert.Null(processor.Spec.Replicas); // the HPA owns the count
        Assert.True(processor.Spec.Template.Spec.TerminationGracePeriodSeconds >= 60);
        Assert.All(processor.Spec.Template.Spec.Containers, c => Assert.True(c.Resources.Requests.ContainsKey("cpu"), $"{c.Name} has no CPU request"));
    }

    [Fact]
    public void TopicsHaveAtLeastAsManyPartitionsAsMaxReplicas()
    {
        var files = Generate();
        var job = Load<V1Job>(files, "kafka/topics-job.yaml");
        var script = job.Spec.Template.Spec.Containers.Single().Command.Last();

        foreach (var topic in new[] { "sample-input", "sample-output", "sample-dlq", "filter-kafka-processor-state-changelog" })
        {
            Assert.Contains($"--create --if-not-exists --topic {topic} --partitions 20 ", script);
        }

        Assert.Contains("--topic filter-kafka-processor-state-changelog --partitions 20 --replication-factor 1 --config cleanup.policy=compact", script);
        Assert.Equal("20", Load<V1ConfigMap>(files, "kafka/configmap.yaml").Data["KAFKA_NUM_PARTITIONS"]);
        Assert.Throws<ManifestException>(() => Generate(new KubernetesOptions { Partitions = 8 }));
    }

    [Fact]
    public void KafkaIsAStatefulSetWithAVolumeClaimAndAHeadlessService()
    {
        var files = Generate();
        var kafka = Load<V1StatefulSet>(files, "kafka/statefulset.yaml");
        var headless = Load<V1Service>(files, "kafka/headless-service.yaml");
        var service = Load<V1Service>(files, "kafka/service.yaml");

        Assert.Equal("kafka-headless", kafka.Spec.ServiceName);
        Assert.Equal("docker.io/confluentinc/confluent-local:8.0.0", kafka.Spec.Template.Spec.Containers.Single().Image);
        var claim = Assert.Single(kafka.Spec.VolumeClaimTemplates);
        Assert.Contains(kafka.Spec.Template.Spec.Containers.Single().VolumeMounts, m => m.Name == claim.Metadata.Name && m.MountPath == "/var/lib/kafka/data");
        Assert.Equal("None", headless.Spec.ClusterIP);
        Assert.Equal("ClusterIP", service.Spec.Type);
        Assert.Contains(service.Spec.Ports, p => p.Port == 9092);
        Assert.False(kafka.Spec.Template.Spec.EnableServiceLinks); // KAFKA_PORT=tcp://... would be read as broker config
    }

    [Fact]
    public void DeploymentsHaveProbesResourcesAndARestrictedSecurityContext()
    {
        var files = Generate();
        var deployments = files.Where(f => f.Path.EndsWith("/deployment.yaml", StringComparison.Ordinal)).ToList();
        Assert.Equal(8, deployments.Count); // 7 projects + the dashboard

        foreach (var file in deployments)
        {
            AssertProductionReady(Assert.IsType<V1Deployment>(Assert.Single(Kustomize.LoadStrict(file.Content))));
        }
    }

    [Fact]
    public void AlgorithmServicesAdmitOnlyTheirCallers()
    {
        var files = Generate();
        var policies = files.Where(f => f.Path.EndsWith("networkpolicy.yaml", StringComparison.Ordinal) || f.Path is "namespace/default-deny.yaml" or "namespace/allow-dns.yaml")
            .SelectMany(f => Kustomize.LoadStrict(f.Content)).OfType<V1NetworkPolicy>().ToList();
        var network = new NetworkPolicyEvaluator(policies);
        foreach (var name in AlgorithmServices)
        {
            Assert.Equal("ClusterIP", Load<V1Service>(files, $"{name}/service.yaml").Spec.Type);
            // The sample's processor calls the services directly (*_SERVICE_URL): the manifest's references decide.
            var callers = new[] { "filter-gateway", "filter-kafka-processor", "signal-generator", "websocket-bridge", "kafka" }
                .Where(caller => network.Allows(caller, name, 8080)).ToList();
            Assert.Equal(["filter-gateway", "filter-kafka-processor"], callers);
        }

        Assert.All(files.Where(f => f.Path.EndsWith("service.yaml", StringComparison.Ordinal)), f => Assert.DoesNotContain("LoadBalancer", f.Content));
    }

    [Fact]
    public void SecretParametersBecomeASecretGeneratorWithoutValues()
    {
        var files = Generate();
        var kustomization = files.Single(f => f.Path == "filter-gateway/kustomization.yaml").Content;
        var example = files.Single(f => f.Path == "filter-gateway/filter-gateway.secrets.env.example").Content;
        var deployment = Load<V1Deployment>(files, "filter-gateway/deployment.yaml");

        Assert.Contains("secretGenerator:\n- name: filter-gateway-secrets\n  envs:\n  - filter-gateway.secrets.env\n", kustomization);
        Assert.Contains("\nGateway__ApiKey=\n", example);
        Assert.DoesNotContain("Gateway__ApiKey", Load<V1ConfigMap>(files, "filter-gateway/configmap.yaml").Data.Keys);
        Assert.Contains(deployment.Spec.Template.Spec.Containers.Single().EnvFrom, e => e.SecretRef?.Name == "filter-gateway-secrets");
        Assert.Contains("*.secrets.env", files.Single(f => f.Path == ".gitignore").Content);
        Assert.DoesNotContain(files, f => f.Content.Contains("kind: Secret", StringComparison.Ordinal));
    }

    [Fact]
    public void ParameterWithoutDefaultNeedsAValue()
    {
        var json = File.ReadAllText(SamplePath).Replace("\"default\": {\n            \"value\": \"20\"\n          }", "\"description\": \"no default\"", StringComparison.Ordinal);
        Assert.DoesNotContain("\"value\": \"20\"", json);
        var manifest = AspireManifest.Parse(json, Path.GetDirectoryName(SamplePath)!);

        var error = Assert.Throws<ManifestException>(() => new KubernetesGenerator(manifest, new KubernetesOptions()).Generate());
        Assert.Contains("--param kafka-partitions=VALUE", error.Message);

        var files = new KubernetesGenerator(manifest, new KubernetesOptions { Parameters = new Dictionary<string, string> { ["kafka-partitions"] = "24" } }).Generate();
        Assert.Equal("24", Load<V1ConfigMap>(files, "filter-kafka-processor/configmap.yaml").Data["Kafka__Partitions"]);
    }

    [Theory]
    [InlineData("kafka-partition", "--param kafka-partition: the manifest has no parameter 'kafka-partition' (its non-secret parameters: kafka-partitions).")]
    [InlineData("kafka", "--param kafka: the manifest has no parameter 'kafka' (its non-secret parameters: kafka-partitions).")]
    [InlineData("gateway-api-key", "--param gateway-api-key: 'gateway-api-key' is a secret parameter;")]
    public void AParamThatNamesNoNonSecretParameterIsRefusedNamingIt(string name, string message)
    {
        var options = new KubernetesOptions { Parameters = new Dictionary<string, string> { [name] = "24" } };

        var error = Assert.Throws<ManifestException>(() => new KubernetesGenerator(Sample, options).Generate());

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownResourceInAnExpressionIsNamed()
    {
        var json = File.ReadAllText(SamplePath).Replace("{filter-ls.bindings.http.url}", "{filter-lms.bindings.http.url}", StringComparison.Ordinal);
        var manifest = AspireManifest.Parse(json, Path.GetDirectoryName(SamplePath)!);

        var error = Assert.Throws<ManifestException>(() => new KubernetesGenerator(manifest, new KubernetesOptions()).Generate());
        Assert.Contains("unknown resource 'filter-lms'", error.Message);
    }

    [Fact]
    public void StrictLoadingRejectsAnUnknownField()
    {
        // What makes the render tests worth something: a misspelt field fails instead of being dropped.
        Assert.ThrowsAny<Exception>(() => Kustomize.LoadStrict("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndatta:\n  a: b\n"));
        Assert.Single(Kustomize.LoadStrict("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n"));
    }

    [Fact]
    public void GenerationIsDeterministic()
    {
        var first = Generate();
        var second = Generate();
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task SampleRendersWithKustomizeAndEveryObjectLoadsStrictly()
    {
        using var temp = new TempFolder();
        var objects = Kustomize.LoadStrict(await Kustomize.RenderAsync(WriteSampleTree(temp)));

        Assert.All(objects, o => Assert.Equal("signal-processing", ((IKubernetesObject<V1ObjectMeta>)o).Metadata.NamespaceProperty ?? (o is V1Namespace ns ? ns.Metadata.Name : null)));
        Assert.Contains(objects.OfType<V2HorizontalPodAutoscaler>(), h => h.Spec.ScaleTargetRef.Name == "filter-kafka-processor");
        Assert.Single(objects.OfType<V1StatefulSet>());
        Assert.Single(objects.OfType<V1Job>());
        Assert.Contains(objects.OfType<V1NetworkPolicy>(), p => p.Metadata.Name == "default-deny");
        var secret = Assert.Single(objects.OfType<V1Secret>()); // from the secretGenerator, hash-suffixed
        var gateway = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "filter-gateway");
        Assert.Contains(gateway.Spec.Template.Spec.Containers.Single().EnvFrom, e => e.SecretRef?.Name == secret.Metadata.Name);
    }

    [Fact]
    public async Task EnvironmentValuesThatYaml11ReadsAsNumbersOrBooleansStayStringsThroughKustomize()
    {
        // kubectl and kustomize read YAML 1.1: unquoted, 0x2000000 (the processor's DOTNET_GCgen0size) rendered as the
        // number 33554432 and "on" as true, which a ConfigMap's data refuses or the runtime misreads.
        string[] values = ["0x2000000", "0o17", "0755", "0b101", "on", "Off", "yes", "N", "True", "NULL", "1_000", "10:30", "+5", ".inf", ".NaN", "42", "1e5", "true", "kafka:9092"];
        var entries = string.Concat(values.Select((v, i) => $"\"TRICKY_{i}\": \"{v}\",\n        "));
        var json = File.ReadAllText(SamplePath).Replace("\"FILTER_ALGORITHM\": \"kalman\",", entries + "\"FILTER_ALGORITHM\": \"kalman\",", StringComparison.Ordinal);
        Assert.Contains("TRICKY_0", json);
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "generated");
        KubernetesOutput.Write(output, new KubernetesGenerator(AspireManifest.Parse(json, Path.GetDirectoryName(SamplePath)!), new KubernetesOptions()).Generate());

        var objects = Kustomize.LoadStrict(await Kustomize.RenderAsync(Kustomize.CopyWithSecretPlaceholders(output, Path.Combine(temp.Path, "render"))));

        var data = objects.OfType<V1ConfigMap>().Single(m => m.Metadata.Name == "filter-kafka-processor-env").Data;
        Assert.Equal(values, values.Select((_, i) => data[$"TRICKY_{i}"]));
    }

    [Fact]
    public async Task KedaOverlayReplacesTheHpaWithALagBasedScaledObject()
    {
        using var temp = new TempFolder();
        var rendered = await Kustomize.RenderAsync(Path.Combine(WriteSampleTree(temp), "overlays", "keda"));
        var scaledObject = AssertKedaOverlay(rendered);
        Assert.Equal("kafka.signal-processing.svc:9092", scaledObject["spec"]["triggers"][0]["metadata"]["bootstrapServers"].ToString());
    }

    [Fact]
    public void AFolderNotWrittenByAGenerationIsLeftAloneAndOneThatWasIsReplaced()
    {
        using var temp = new TempFolder();
        var foreign = Path.Combine(temp.Path, "mine");
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "keep me");

        var error = Assert.Throws<ManifestException>(() => KubernetesOutput.Write(foreign, Generate()));

        Assert.Contains("is not empty and was not written by 'k8s generate'", error.Message, StringComparison.Ordinal);
        Assert.Equal(["notes.txt"], Directory.GetFiles(foreign).Select(Path.GetFileName));
        var generated = Path.Combine(temp.Path, "generated");
        KubernetesOutput.Write(generated, Generate());
        KubernetesOutput.Write(generated, Generate());
        Assert.True(File.Exists(Path.Combine(generated, "kustomization.yaml")));
    }

    /// <summary>Writes the sample's output as the CLI would, plus placeholder secret env files; returns the tree.</summary>
    private static string WriteSampleTree(TempFolder temp)
    {
        var output = Path.Combine(temp.Path, "generated");
        KubernetesOutput.Write(output, Generate());
        return Kustomize.CopyWithSecretPlaceholders(output, Path.Combine(temp.Path, "render"));
    }

    /// <summary>Checks a rendered KEDA overlay and returns its ScaledObject (YamlDotNet: KEDA's CRD has no typed model).</summary>
    internal static YamlMappingNode AssertKedaOverlay(string rendered)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(rendered));
        var documents = stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
        var scaledObjects = documents.Where(d => d["kind"].ToString() == "ScaledObject").ToList();
        var scaledObject = Assert.Single(scaledObjects);

        Assert.Equal("keda.sh/v1alpha1", scaledObject["apiVersion"].ToString());
        Assert.Equal("signal-processing", scaledObject["metadata"]["namespace"].ToString());
        Assert.Equal("filter-kafka-processor", scaledObject["spec"]["scaleTargetRef"]["name"].ToString());
        Assert.Equal("2", scaledObject["spec"]["minReplicaCount"].ToString());
        Assert.Equal("20", scaledObject["spec"]["maxReplicaCount"].ToString());
        var trigger = (YamlMappingNode)((YamlSequenceNode)scaledObject["spec"]["triggers"]).Single();
        Assert.Equal("kafka", trigger["type"].ToString());
        Assert.Equal("filter-kafka-processor", trigger["metadata"]["consumerGroup"].ToString());
        Assert.Equal("sample-input", trigger["metadata"]["topic"].ToString());
        Assert.True(int.Parse(trigger["metadata"]["lagThreshold"].ToString(), System.Globalization.CultureInfo.InvariantCulture) > 0);

        // KEDA makes its own HPA: the CPU one is gone; everything else loads strictly.
        var rest = string.Join("\n---\n", rendered.Split("\n---\n").Where(d => !d.Contains("kind: ScaledObject", StringComparison.Ordinal)));
        var objects = Kustomize.LoadStrict(rest);
        Assert.DoesNotContain(objects.OfType<V2HorizontalPodAutoscaler>(), h => h.Spec.ScaleTargetRef.Name == "filter-kafka-processor");
        Assert.Contains(objects.OfType<V1Deployment>(), d => d.Metadata.Name == "filter-kafka-processor");
        Assert.Contains(objects.OfType<V1NetworkPolicy>(), p => p.Metadata.Name == "kafka-allow-keda");
        return scaledObject;
    }

    internal static void AssertProductionReady(V1Deployment deployment)
    {
        var name = deployment.Metadata.Name;
        var pod = deployment.Spec.Template.Spec;
        Assert.True(pod.SecurityContext?.RunAsNonRoot == true, $"{name}: pod runAsNonRoot");
        Assert.Equal("RuntimeDefault", pod.SecurityContext?.SeccompProfile?.Type);
        Assert.True(pod.TerminationGracePeriodSeconds >= 30, $"{name}: terminationGracePeriodSeconds");
        Assert.Equal(1654L, pod.SecurityContext?.RunAsUser); // the .NET images' app user (docs/kubernetes.md)
        Assert.False(pod.AutomountServiceAccountToken ?? true, $"{name}: no service-account token");
        Assert.False(pod.EnableServiceLinks ?? true, $"{name}: enableServiceLinks");

        foreach (var container in pod.Containers)
        {
            var where = $"{name}/{container.Name}";
            Assert.True(container.ReadinessProbe is not null, $"{where}: readiness probe");
            Assert.True(container.LivenessProbe is not null, $"{where}: liveness probe");
            Assert.True(container.Resources?.Requests?.ContainsKey("cpu") == true && container.Resources.Requests.ContainsKey("memory"), $"{where}: requests");
            Assert.True(container.Resources?.Limits?.ContainsKey("memory") == true && container.Resources.Limits.ContainsKey("cpu"), $"{where}: limits");

            var security = container.SecurityContext;
            Assert.True(security is not null, $"{where}: securityContext");
            Assert.True(security.RunAsNonRoot == true, $"{where}: runAsNonRoot");
            Assert.True(security.ReadOnlyRootFilesystem == true, $"{where}: readOnlyRootFilesystem");
            Assert.True(security.AllowPrivilegeEscalation == false, $"{where}: allowPrivilegeEscalation");
            Assert.Equal(["ALL"], security.Capabilities?.Drop ?? []);
            Assert.Equal("RuntimeDefault", security.SeccompProfile?.Type);

            // A read-only root needs a writable /tmp (the .NET runtime's diagnostics socket, temp files).
            var tmp = Assert.Single(container.VolumeMounts ?? [], m => m.MountPath == "/tmp");
            Assert.Contains(pod.Volumes, v => v.Name == tmp.Name && v.EmptyDir is not null);

            if (name != KubernetesGenerator.DashboardName)
            {
                Assert.Equal("/health", container.ReadinessProbe!.HttpGet?.Path);
                Assert.Equal("/alive", container.LivenessProbe!.HttpGet?.Path);
                Assert.Equal("/alive", container.StartupProbe?.HttpGet?.Path);
                Assert.Matches("^[0-9a-f]{16}$", deployment.Spec.Template.Metadata.Annotations["signal-pipeline/config-hash"]);
            }
            else
            {
                // The dashboard has neither endpoint: readiness GET / and liveness a TCP check on its UI port, no startup probe.
                Assert.Equal("/", container.ReadinessProbe!.HttpGet?.Path);
                Assert.Equal("dashboard-ui", container.LivenessProbe!.TcpSocket?.Port?.Value);
                Assert.Null(container.StartupProbe);
            }
        }
    }
}
