namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// Turns an Aspire manifest into a kustomize tree in aspirate's layout (a folder per resource with its workload,
/// Service, ConfigMap and kustomization), plus what aspirate leaves out and this system needs: probes, sizes, the
/// restricted security context, autoscalers, disruption budgets, a default-deny network with the app's flows opened,
/// a KRaft StatefulSet with its topics Job, the dashboard, and the <c>keda</c>, <c>ingress</c> and <c>ha</c> overlays.
/// Each kind has its own builder; this class decides what goes where. The output depends only on the manifest and the
/// options, so it can be committed and checked for staleness byte for byte.
/// </summary>
public sealed class KubernetesGenerator
{
    public const string DashboardName = DashboardBuilder.Name;
    public const string TopicsJobName = KafkaBuilder.TopicsJobName;
    public const string NamespaceFolder = "namespace";

    private readonly AspireManifest _manifest;
    private readonly KubernetesOptions _options;
    private readonly List<string> _warnings = [];
    private readonly WorkloadPreparer _preparer;

    public KubernetesGenerator(AspireManifest manifest, KubernetesOptions options)
    {
        options.Validate();
        // A --param that names no parameter (a typo) would otherwise be ignored, and the value meant for it used nowhere.
        foreach (var name in options.Parameters.Keys.Order(StringComparer.Ordinal))
        {
            if (!manifest.Resources.TryGetValue(name, out var parameter) || parameter.Type != "parameter.v0")
            {
                var known = manifest.Resources.Values.Where(r => r.Type == "parameter.v0" && !r.Inputs.Values.Any(i => i.IsSecret)).Select(r => r.Name).Order(StringComparer.Ordinal).ToList();
                throw new ManifestException($"--param {name}: the manifest has no parameter '{name}' " +
                    (known.Count > 0 ? $"(its non-secret parameters: {string.Join(", ", known)})." : "(it has no non-secret parameters)."));
            }

            // As ManifestExpressions resolves it: a generated value is withheld like a secret, so a --param for it would be ignored.
            if (parameter.Inputs.Values.Any(i => i.IsSecret))
            {
                throw new ManifestException($"--param {name}: '{name}' is a secret parameter; its value goes in the *.secrets.env file of the resource that uses it, never into the generated tree.");
            }
        }

        _manifest = manifest;
        _options = options;
        _preparer = new WorkloadPreparer(manifest, options, new ManifestExpressions(manifest, options.Parameters), _warnings);
    }

    /// <summary>What was skipped or dropped, for the user to read.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    private IEnumerable<ManifestResource> Workloads =>
        _manifest.Resources.Values.Where(r => r.IsWorkload).OrderBy(r => r.Name, StringComparer.Ordinal);

    /// <summary>The project images, one per project (resources of the same project share it).</summary>
    public IReadOnlyList<ProjectImage> ProjectImages()
    {
        var registry = _options.Registry.TrimEnd('/');
        return Workloads
            .Where(r => r.IsProject)
            .GroupBy(r => _preparer.ProjectFullPath(r), StringComparer.Ordinal)
            .Select(g =>
            {
                var names = g.Select(r => r.Name).ToList();
                var repository = names.Count == 1 ? names[0] : KubernetesObjects.KebabCase(Path.GetFileNameWithoutExtension(g.Key));
                return new ProjectImage(registry, repository, _options.Tag, g.Key, names);
            })
            .OrderBy(i => i.Repository, StringComparer.Ordinal)
            .ToList();
    }

    public IReadOnlyList<GeneratedFile> Generate()
    {
        _warnings.Clear();
        foreach (var skipped in _manifest.Resources.Values.Where(r => !r.IsWorkload && r.Type is not ("parameter.v0" or "value.v0")))
        {
            _warnings.Add($"Resource '{skipped.Name}' of type '{skipped.Type}' has no Kubernetes equivalent here and was skipped.");
        }

        var images = ProjectImages().SelectMany(i => i.Resources.Select(r => (r, i.Reference))).ToDictionary(x => x.r, x => x.Reference);
        var workloads = Workloads.Select(_preparer.Prepare).ToList();
        var kafka = workloads.FirstOrDefault(w => w.IsKafka);
        var flows = NetworkFlows.Of(workloads, kafka?.Ports ?? [], _options.DirectCalls);
        var tree = new KustomizeTree(_options);

        tree.Folder(NamespaceFolder,
        [
            ("namespace.yaml", KubernetesObjects.Namespace(_options.Namespace)),
            ("default-deny.yaml", NetworkPolicyBuilder.DefaultDeny()),
            ("allow-dns.yaml", NetworkPolicyBuilder.AllowDns()),
        ]);
        tree.Folder(DashboardName, [.. new DashboardBuilder(_options).Objects(), .. Policy(DashboardName, flows, [])]);
        foreach (var w in workloads)
        {
            tree.Folder(w.Name, WorkloadObjects(w, images, flows), SecretFiles(w, out var generator), generator);
        }

        var folders = tree.Folders.ToList();
        tree.Root(folders);
        new KedaOverlay(_options, _warnings).Write(tree, workloads, folders);
        new IngressOverlay(_options).Write(tree, workloads, folders);
        if (kafka is not null)
        {
            var haFlows = NetworkFlows.Of(workloads.Select(w => w.IsKafka ? w with { Ports = [.. KafkaHaBuilder.Ports] } : w).ToList(), KafkaHaBuilder.Ports, _options.DirectCalls);
            var haKafka = new KafkaHaBuilder(_options, new KafkaBuilder(_options)).Objects(kafka);
            tree.Overlay("ha",
                "# Three KRaft brokers (apache/kafka), replication factor 3, min.insync.replicas 2, one broker per node:\n" +
                "# kubectl apply --server-side -k deploy/k8s/overlays/ha (docs/kubernetes.md, 'Which Kafka')\n",
                folders.Where(f => f != kafka.Name),
                [(kafka.Name, [.. haKafka, .. Policy(kafka.Name, haFlows, []), .. Policy(TopicsJobName, haFlows, [], "topics-networkpolicy.yaml")])]);
        }

        return tree.Files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
    }

    private IEnumerable<(string, object)> WorkloadObjects(PreparedWorkload w, IReadOnlyDictionary<string, string> images, IReadOnlyList<Flow> flows)
    {
        var deployments = new DeploymentBuilder(_options);
        var kafka = new KafkaBuilder(_options);
        yield return ("configmap.yaml", DeploymentBuilder.ConfigMap(w));
        if (w.Resource.IsProject)
        {
            yield return ("deployment.yaml", deployments.Project(w, images[w.Name]));
        }
        else if (w.IsKafka)
        {
            yield return ("statefulset.yaml", kafka.StatefulSet(w));
            yield return ("headless-service.yaml", KubernetesObjects.Service(w.Name + "-headless", w.Name, w.Ports, headless: true));
            var image = w.Resource.Image!;
            yield return ("topics-job.yaml", kafka.TopicsJob(image, $"{w.Name}:{_preparer.KafkaClientPort(w.Resource)}", replicationFactor: 1));
            foreach (var policy in Policy(TopicsJobName, flows, [], "topics-networkpolicy.yaml"))
            {
                yield return policy;
            }
        }
        else
        {
            var image = w.Resource.Build is null
                ? w.Resource.Image ?? throw new ManifestException($"Container '{w.Name}' has neither an image nor a build.")
                : $"{_options.Registry.TrimEnd('/')}/{w.Name}:{_options.Tag}";
            yield return ("deployment.yaml", deployments.Container(w, image));
        }

        if (w.Ports.Count > 0)
        {
            yield return ("service.yaml", KubernetesObjects.Service(w.Name, w.Name, w.Ports, headless: false));
        }

        if (_options.AutoscalerOf(w.Name) is { } hpa && w.Resource.IsProject)
        {
            yield return ("hpa.yaml", new AutoscalerBuilder(_options).Build(w.Name, hpa));
        }

        if (w.IsMultiReplica && !w.IsKafka)
        {
            yield return ("poddisruptionbudget.yaml", DisruptionBudgetBuilder.Build(w.Name));
        }

        var publicPorts = _options.PublicResources.Contains(w.Name) ? w.Ports.Take(1).Select(p => p.TargetPort).ToList() : [];
        foreach (var policy in Policy(w.Name, flows, publicPorts))
        {
            yield return policy;
        }
    }

    private IEnumerable<(string, object)> Policy(string app, IReadOnlyList<Flow> flows, IReadOnlyList<int> publicPorts, string file = "networkpolicy.yaml")
    {
        if (new NetworkPolicyBuilder(_options).For(app, flows, publicPorts) is { } policy)
        {
            yield return (file, policy);
        }
    }

    /// <summary>The manifest's secret values become a secretGenerator reading a git-ignored env file; an example lists the keys.</summary>
    private static List<GeneratedFile> SecretFiles(PreparedWorkload w, out KustomizeSecretGenerator? generator)
    {
        generator = null;
        if (w.Secrets.Count == 0)
        {
            return [];
        }

        var envFile = $"{w.Name}{KubernetesOutput.SecretsSuffix}";
        generator = new KustomizeSecretGenerator($"{w.Name}-secrets", [envFile]);
        var example = $"# Copy to {envFile} (git-ignored) and fill in; kustomize reads it into Secret {w.Name}-secrets.\n" +
            string.Concat(w.Secrets.Select(s => $"# {s.Key} in the manifest: {s.Value}\n{s.Key}=\n"));
        return [new GeneratedFile($"{w.Name}/{envFile}.example", example)];
    }
}
