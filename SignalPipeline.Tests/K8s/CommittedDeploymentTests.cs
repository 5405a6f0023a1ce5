using System.Diagnostics;
using k8s.Models;
using SignalPipeline.Cli.Kubernetes;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.K8s;

/// <summary>The committed deploy/k8s: generated from the committed aspire-manifest.json, renders, is production-ready.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class CommittedDeploymentTests
{
    private static readonly string DeployFolder = Repository.Path("deploy", "k8s");

    private static AspireManifest Manifest => AspireManifest.Load(Repository.Path("aspire-manifest.json"));

    [Fact]
    public void CommittedOutputIsWhatTheManifestGenerates()
    {
        var expected = new KubernetesGenerator(Manifest, new KubernetesOptions()).Generate()
            .ToDictionary(f => f.Path, f => f.Content, StringComparer.Ordinal);
        var actual = Directory.EnumerateFiles(DeployFolder, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(KubernetesOutput.SecretsSuffix, StringComparison.Ordinal))
            .ToDictionary(f => Path.GetRelativePath(DeployFolder, f).Replace('\\', '/'), f => File.ReadAllText(f), StringComparer.Ordinal);

        var stale = expected.Keys.Union(actual.Keys)
            .Where(path => !expected.TryGetValue(path, out var want) || !actual.TryGetValue(path, out var have) || want != have)
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.True(stale.Count == 0,
            $"deploy/k8s is stale (differs from what aspire-manifest.json generates): {string.Join(", ", stale)}.\n" +
            $"Refresh it from the repository root with: {Repository.RegenerateCommand}");
    }

    [Fact]
    public async Task CommittedOutputRendersAndEveryObjectLoadsStrictly()
    {
        using var temp = new TempFolder();
        var tree = Kustomize.CopyWithSecretPlaceholders(DeployFolder, temp.Path);

        var objects = Kustomize.LoadStrict(await Kustomize.RenderAsync(tree));

        Assert.Contains(objects, o => o is V1Namespace { Metadata.Name: "signal-processing" });
        Assert.NotEmpty(objects.OfType<V1Deployment>());
        foreach (var deployment in objects.OfType<V1Deployment>())
        {
            Assert.Equal("signal-processing", deployment.Metadata.NamespaceProperty);
            KubernetesGeneratorTests.AssertProductionReady(deployment);
        }

        Assert.DoesNotContain(objects.OfType<V1Service>(), s => s.Spec.Type is "LoadBalancer" or "NodePort");
    }

    [Fact]
    public async Task CommittedOverlaysRender()
    {
        using var temp = new TempFolder();
        var tree = Kustomize.CopyWithSecretPlaceholders(DeployFolder, temp.Path);
        var overlays = Path.Combine(tree, "overlays");
        var manifest = Manifest;

        // The manifest decides which overlays exist: KEDA needs the processor and Kafka, the Ingress the gateway or bridge.
        var hasKeda = manifest.Resources.ContainsKey("filter-kafka-processor") && manifest.Resources.ContainsKey("kafka");
        Assert.Equal(hasKeda, Directory.Exists(Path.Combine(overlays, "keda")));
        if (hasKeda)
        {
            KubernetesGeneratorTests.AssertKedaOverlay(await Kustomize.RenderAsync(Path.Combine(overlays, "keda")));
        }

        if (Directory.Exists(Path.Combine(overlays, "ingress")))
        {
            var objects = Kustomize.LoadStrict(await Kustomize.RenderAsync(Path.Combine(overlays, "ingress")));
            var ingresses = objects.OfType<V1Ingress>().ToList();
            Assert.NotEmpty(ingresses);
            Assert.All(ingresses.SelectMany(i => i.Spec.Rules), r => Assert.Contains(objects.OfType<V1Service>(), s => s.Metadata.Name == r.Http.Paths.Single().Backend.Service.Name));
        }
    }

    [Fact]
    public async Task CommittedAutoscalerTargetsTheProcessorWithTheGuideNumbers()
    {
        using var temp = new TempFolder();
        var objects = Kustomize.LoadStrict(await Kustomize.RenderAsync(Kustomize.CopyWithSecretPlaceholders(DeployFolder, temp.Path)));
        var hpas = objects.OfType<V2HorizontalPodAutoscaler>().Where(h => h.Spec.ScaleTargetRef.Name == "filter-kafka-processor").ToList();

        if (!Manifest.Resources.ContainsKey("filter-kafka-processor"))
        {
            Assert.Empty(hpas); // nothing to scale yet
            return;
        }

        var hpa = Assert.Single(hpas);
        Assert.Equal("filter-kafka-processor", hpa.Spec.ScaleTargetRef.Name);
        Assert.Equal((2, 20), (hpa.Spec.MinReplicas!.Value, hpa.Spec.MaxReplicas));
        Assert.Equal(60, Assert.Single(hpa.Spec.Metrics).Resource.Target.AverageUtilization);
        Assert.NotNull(hpa.Spec.Behavior.ScaleDown.StabilizationWindowSeconds);
        var target = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == hpa.Spec.ScaleTargetRef.Name);
        Assert.All(target.Spec.Template.Spec.Containers, c => Assert.True(c.Resources.Requests.ContainsKey("cpu"), $"{c.Name}: no CPU request, the HPA cannot compute utilisation"));
    }

    [Fact]
    public async Task CommittedProcessorRunsWithItsRuntimeEnvironment()
    {
        // The GC's gen0 budget can only come from the environment (ProcessorRuntime): the AppHost sets it, and it must
        // reach the pods through the manifest and the generator, as the same string after kustomize (YAML 1.1 read an
        // unquoted 0x2000000 as 33554432, which the runtime would take for hexadecimal: an 822 MiB budget).
        using var temp = new TempFolder();
        var objects = Kustomize.LoadStrict(await Kustomize.RenderAsync(Kustomize.CopyWithSecretPlaceholders(DeployFolder, temp.Path)));
        var processor = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "filter-kafka-processor");
        var maps = processor.Spec.Template.Spec.Containers.Single().EnvFrom.Select(e => e.ConfigMapRef?.Name).OfType<string>().ToHashSet();
        var data = objects.OfType<V1ConfigMap>().Where(m => maps.Contains(m.Metadata.Name)).SelectMany(m => m.Data).ToDictionary();

        Assert.NotEmpty(ProcessorRuntime.Environment);
        foreach (var (name, value) in ProcessorRuntime.Environment)
        {
            Assert.True(data.TryGetValue(name, out var have) && have == value, $"filter-kafka-processor: {name} is {(have ?? "not set")}, not {value}");
        }
    }

    [Fact]
    public void NoSecretValueIsCommitted()
    {
        var tracked = GitTrackedFiles("deploy/k8s");
        Assert.NotEmpty(tracked);
        Assert.DoesNotContain(tracked, f => f.EndsWith(KubernetesOutput.SecretsSuffix, StringComparison.Ordinal));

        foreach (var file in tracked.Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) && !f.EndsWith("kustomization.yaml", StringComparison.Ordinal)))
        {
            var text = File.ReadAllText(Repository.Path(file));
            // KEDA's ScaledObject and kustomize's delete patch are not objects the typed models load.
            if (!text.Contains("kind: ScaledObject", StringComparison.Ordinal) && !text.Contains("$patch: delete", StringComparison.Ordinal))
            {
                foreach (var secret in Kustomize.LoadStrict(text).OfType<V1Secret>())
                {
                    Assert.True(secret.Data is null or { Count: 0 } && secret.StringData is null or { Count: 0 }, $"{file}: Secret {secret.Metadata.Name} has values");
                }
            }
        }

        foreach (var example in tracked.Where(f => f.EndsWith(".secrets.env.example", StringComparison.Ordinal)))
        {
            Assert.All(File.ReadAllLines(Repository.Path(example)).Where(l => !l.StartsWith('#')), l => Assert.EndsWith("=", l));
        }
    }

    private static List<string> GitTrackedFiles(string folder)
    {
        var start = new ProcessStartInfo("git", ["-C", Repository.Root, "ls-files", "--", folder]) { RedirectStandardOutput = true };
        using var git = Process.Start(start) ?? throw new InvalidOperationException("git did not start.");
        var output = git.StandardOutput.ReadToEnd();
        git.WaitForExit();
        Assert.True(git.ExitCode == 0, "git ls-files failed");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }
}
