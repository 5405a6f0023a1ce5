using System.Globalization;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// Resolves a manifest resource for the cluster: expressions become in-cluster DNS names, secret values go to a Secret,
/// https bindings are dropped (TLS ends at the Ingress), and the settings the manifest cannot carry are added (OTLP,
/// the Kafka broker's KRaft settings, the public resources' forwarded headers and rate limit).
/// </summary>
internal sealed class WorkloadPreparer(AspireManifest manifest, KubernetesOptions options, ManifestExpressions expressions, List<string> warnings)
{
    public const string DashboardOtlpEndpoint = "http://" + DashboardBuilder.Name + ":" + DashboardBuilder.OtlpGrpcPortText;

    public PreparedWorkload Prepare(ManifestResource resource)
    {
        var config = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var secrets = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var references = new SortedSet<string>(StringComparer.Ordinal);
        var isKafka = resource.Name == options.KafkaResource;
        // What a broker advertises is where every client goes after bootstrap, from wherever it runs: KEDA's operator
        // (overlays/keda) reads the lag from its own namespace, where the bare Service name `kafka` does not resolve.
        var resolver = isKafka ? expressions.WithServiceDomain(options.ServiceDomain) : expressions;

        foreach (var (key, raw) in resource.Env)
        {
            var value = resolver.Resolve(raw);
            references.UnionWith(value.References);
            if (value.IsDropped)
            {
                warnings.Add($"{resource.Name}: {key} uses an https binding; in the cluster traffic is plain http (TLS ends at the Ingress), so it was left out.");
            }
            else if (value.IsSecret)
            {
                secrets[key] = raw;
            }
            else
            {
                config[key] = value.Value;
            }
        }

        var args = new List<string>();
        foreach (var raw in resource.Args)
        {
            var value = expressions.Resolve(raw);
            if (value.IsSecret || value.IsDropped)
            {
                throw new ManifestException($"{resource.Name}: argument '{raw}' uses a secret or an https binding; pass it through an environment variable instead.");
            }

            references.UnionWith(value.References);
            args.Add(value.Value);
        }

        references.Remove(resource.Name);
        var ports = resource.Bindings
            .Where(b => !b.IsHttps)
            .Select(b => new WorkloadPort(KubernetesObjects.PortName(b.Name), expressions.TargetPort(resource, b), expressions.ServicePort(resource, b)))
            .ToList();
        var usesKafka = references.Contains(options.KafkaResource);

        if (resource.IsProject)
        {
            if (ports.Count == 0)
            {
                // Every project here is a web app with /health and /alive; the .NET images listen on 8080.
                ports.Add(new WorkloadPort("http", 8080, 8080));
            }

            config.TryAdd("HTTP_PORTS", ports[0].TargetPort.ToString(CultureInfo.InvariantCulture));
            config.TryAdd("OTEL_EXPORTER_OTLP_ENDPOINT", DashboardOtlpEndpoint);
            config.TryAdd("OTEL_SERVICE_NAME", resource.Name);
            if (options.PublicResources.Contains(resource.Name))
            {
                // Trust X-Forwarded-For only from the ingress controller's network, so a client cannot pick its own
                // address (and with it its rate-limit partition).
                config["ForwardedHeaders__KnownNetworks"] = options.ForwardedHeadersKnownNetworks;
            }

            if (resource.Name == options.GatewayResource && options.RateLimitPermitsPerSecond > 0)
            {
                config["FilterGateway__RateLimitPermitsPerSecond"] = options.RateLimitPermitsPerSecond.ToString(CultureInfo.InvariantCulture);
                config["FilterGateway__RateLimitBurst"] = options.RateLimitBurst.ToString(CultureInfo.InvariantCulture);
            }
        }
        else if (isKafka)
        {
            config["KAFKA_NUM_PARTITIONS"] = options.Partitions.ToString(CultureInfo.InvariantCulture);
            config["KAFKA_LOG_DIRS"] = KafkaBuilder.LogDirs(resource);
            config.TryAdd("KAFKA_HEAP_OPTS", "-Xms512m -Xmx1g");
            // One broker: the internal topics (offsets, transactions) cannot have the default 3 replicas.
            config.TryAdd("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1");
            config.TryAdd("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1");
            config.TryAdd("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1");
        }

        int? replicas = options.AutoscalerOf(resource.Name) is not null ? null : options.Replicas.GetValueOrDefault(resource.Name, 1);
        return new PreparedWorkload(resource, config, secrets, args, ports, references, usesKafka, isKafka, replicas);
    }

    /// <summary>The port clients of Kafka connect to (the manifest's <c>tcp</c> binding).</summary>
    public int KafkaClientPort(ManifestResource kafka)
    {
        var binding = kafka.Bindings.FirstOrDefault(b => b.Name == "tcp") ?? kafka.Bindings.FirstOrDefault()
            ?? throw new ManifestException($"Kafka resource '{kafka.Name}' has no binding to connect to.");
        return expressions.ServicePort(kafka, binding);
    }

    public string ProjectFullPath(ManifestResource project)
    {
        var path = project.Path ?? throw new ManifestException($"Project '{project.Name}' has no path.");
        return Path.GetFullPath(Path.Combine(manifest.Directory, path));
    }
}
