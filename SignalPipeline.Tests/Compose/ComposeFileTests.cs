using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using SignalPipeline.Cli.Compose;
using SignalPipeline.Cli.Kubernetes;
using SignalPipeline.Cli.Topics;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;
using YamlDotNet.Serialization;

namespace SignalPipeline.Tests.Compose;

/// <summary>
/// The committed deploy/compose: what the manifest generates, valid for docker-compose and for the Compose
/// Specification's schema, and wired as the issue asks. No Docker engine runs here, so nothing is started.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class ComposeFileTests
{
    private static readonly string Folder = Path.Combine(RepositoryLayout.Root, "deploy", "compose");
    private static readonly string ComposePath = Path.Combine(Folder, "docker-compose.yaml");

    private static AspireManifest Manifest => AspireManifest.Load(Path.Combine(RepositoryLayout.Root, "aspire-manifest.json"));

    [Fact]
    public void AComposeFileNotWrittenByAGenerationIsNotOverwritten()
    {
        var folder = Directory.CreateTempSubdirectory("compose-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "docker-compose.yaml"), "services: {}\n");

            var error = Assert.Throws<ManifestException>(() => ComposeCommand.Write(folder, new ComposeGenerator(Manifest, new ComposeOptions()).Generate()));

            Assert.Contains("was not written by 'compose generate'; choose another --output.", error.Message, StringComparison.Ordinal);
            Assert.Equal("services: {}\n", File.ReadAllText(Path.Combine(folder, "docker-compose.yaml")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(0, 8, "--processor-replicas must be 1 or more, not 0.")]
    [InlineData(-1, 8, "--processor-replicas must be 1 or more, not -1.")]
    [InlineData(3, 2, "--partitions (2) must be at least --processor-replicas (3), or replicas beyond it idle.")]
    public void ReplicasBelowOneOrAbovePartitionsAreRefusedNamingTheOption(int replicas, int partitions, string message)
    {
        var error = Assert.Throws<ManifestException>(() => new ComposeGenerator(Manifest, new ComposeOptions { ProcessorReplicas = replicas, Partitions = partitions }));

        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("https://ghcr.io/me", "latest", "--registry 'https://ghcr.io/me' must be a registry host with an optional path, e.g. ghcr.io/me.")]
    [InlineData("localhost:5001", "v1:2", "--tag 'v1:2' is not a valid image tag.")]
    [InlineData("localhost:5001", "", "--tag '' is not a valid image tag.")]
    public void ARegistryOrTagThatK8sImagesRefusesIsRefusedNamingTheOption(string registry, string tag, string message)
    {
        // scripts/compose-up.sh names the images with 'k8s images --registry REGISTRY --tag TAG' from .env.
        var images = Assert.Throws<ManifestException>(() => new KubernetesGenerator(Manifest, new KubernetesOptions { Registry = registry, Tag = tag }));
        Assert.Equal(message, images.Message);

        var error = Assert.Throws<ManifestException>(() => new ComposeGenerator(Manifest, new ComposeOptions { Registry = registry, Tag = tag }));

        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void CommittedFilesAreWhatTheManifestGenerates()
    {
        var expected = new ComposeGenerator(Manifest, new ComposeOptions()).Generate();
        var committed = Directory.EnumerateFiles(Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal);

        Assert.Equal(expected.Select(f => f.Path).Order(StringComparer.Ordinal), committed);
        foreach (var file in expected)
        {
            Assert.True(file.Content == File.ReadAllText(Path.Combine(Folder, file.Path)),
                $"deploy/compose/{file.Path} is stale. Refresh it with: dotnet run --project SignalPipeline.Cli -- compose generate");
        }
    }

    [Theory]
    [InlineData]
    [InlineData("--profile", "generator")]
    public async Task DockerComposeParsesIt(params string[] profile)
    {
        var tool = new[] { "/usr/bin/docker-compose", "/usr/local/bin/docker-compose" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("docker-compose is not installed: run scripts/test.sh (it installs it) or apt-get install -y docker-compose.");

        var result = await ExternalProcess.RunAsync(
            ExternalProcess.Command(tool, ["--project-directory", Folder, "-f", ComposePath, .. profile, "config"]), TimeSpan.FromMinutes(1));

        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        // .env is read and interpolated: the images carry the names of `k8s images`.
        foreach (var image in new KubernetesGenerator(Manifest, new KubernetesOptions()).ProjectImages())
        {
            Assert.Contains($"image: {image.Reference}", result.Output);
        }

    }

    [Fact]
    public void ItIsValidForTheComposeSpecificationSchema()
    {
        var errors = SchemaErrors(LoadCompose());
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void TheSchemaCheckCatchesWhatComposeWouldReject()
    {
        var compose = LoadCompose();
        compose["services"]!["kafka"]!["restart_policy"] = "always";
        compose["services"]!["filter-gateway"]!["deploy"] = new JsonObject { ["replicas"] = "two" };

        var errors = SchemaErrors(compose);

        Assert.Contains(errors, e => e.Contains("/services/kafka", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("/services/filter-gateway/deploy/replicas", StringComparison.Ordinal));
    }

    private static List<string> SchemaErrors(JsonNode compose)
    {
        // The file is draft 2019-09 with two draft-04 leftovers the library rejects: "$schema" ends in '#' (not the
        // dialect's canonical id) and "id" keywords (2019-09 ignores them). Both are dropped; every rule stays.
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryLayout.Root, "SignalPipeline.Tests", "Compose", "TestData", "compose-spec.json")))!;
        DropLegacyKeywords(node);
        var schema = JsonSchema.Build(JsonSerializer.SerializeToElement(node), new BuildOptions { Dialect = Dialect.Draft201909 });
        var results = schema.Evaluate(JsonSerializer.SerializeToElement(compose), new EvaluationOptions { OutputFormat = OutputFormat.List });
        return results.IsValid ? [] : [.. (results.Details ?? []).Where(d => d.Errors is not null)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key} {e.Value}"))];
    }

    [Fact]
    public void ServicesStartInOrderWithHealthchecksAndTheGuidesSettings()
    {
        var services = LoadCompose()["services"]!.AsObject();

        Assert.Equal(Manifest.Resources.Values.Where(r => r.IsWorkload).Select(r => r.Name).Append("kafka-topics").Append("aspire-dashboard").Order(StringComparer.Ordinal),
            services.Select(s => s.Key).Order(StringComparer.Ordinal));
        foreach (var (name, service) in services.Where(s => s.Key is not ("kafka-topics" or "aspire-dashboard")))
        {
            Assert.True(service!["healthcheck"]?["test"] is JsonArray, $"{name} has no healthcheck");
        }

        Assert.Equal("service_healthy", services["kafka-topics"]!["depends_on"]!["kafka"]!["condition"]!.GetValue<string>());
        foreach (var user in new[] { "filter-kafka-processor", "websocket-bridge", "signal-generator" })
        {
            Assert.Equal("service_completed_successfully", services[user]!["depends_on"]!["kafka-topics"]!["condition"]!.GetValue<string>());
            Assert.Equal("kafka:9093", services[user]!["environment"]!["KAFKA_BROKERS"]!.GetValue<string>());
        }

        foreach (var filter in new[] { "filter-kalman", "filter-rls", "filter-ls" })
        {
            Assert.Equal("service_healthy", services["filter-gateway"]!["depends_on"]![filter]!["condition"]!.GetValue<string>());
        }

        var processor = services["filter-kafka-processor"]!;
        Assert.Equal(2, processor["deploy"]!["replicas"]!.GetValue<int>());
        Assert.Equal("${FILTER_ALGORITHM}", processor["environment"]!["FILTER_ALGORITHM"]!.GetValue<string>());
        Assert.Equal("${INPUT_TOPIC}", processor["environment"]!["INPUT_TOPIC"]!.GetValue<string>());
        Assert.Equal("${BIND_ADDRESS}:${FILTER_GATEWAY_PORT}:8000", services["filter-gateway"]!["ports"]![0]!.GetValue<string>());
        Assert.Equal("${BIND_ADDRESS}:${WEBSOCKET_BRIDGE_PORT}:8080", services["websocket-bridge"]!["ports"]![0]!.GetValue<string>());
        Assert.Equal("generator", services["signal-generator"]!["profiles"]![0]!.GetValue<string>());
        Assert.Equal("http://aspire-dashboard:18889", processor["environment"]!["OTEL_EXPORTER_OTLP_ENDPOINT"]!.GetValue<string>());

        var env = File.ReadAllLines(Path.Combine(Folder, ".env")).Where(l => l.Contains('=') && !l.StartsWith('#'))
            .ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);
        Assert.Equal(("localhost:5001", "latest", "8000", "5180", "kalman"), (env["REGISTRY"], env["TAG"], env["FILTER_GATEWAY_PORT"], env["WEBSOCKET_BRIDGE_PORT"], env["FILTER_ALGORITHM"]));
        Assert.All(PipelineTopics.All, t => Assert.Equal(t.Name, env[t.Setting]));
    }

    [Fact]
    public void EveryServiceHasMoreThanTheHostsShutdownTimeoutToStopBeforeItIsKilled()
    {
        // Docker kills a container 10 s after SIGTERM unless stop_grace_period says otherwise; the services drain for up
        // to .NET's HostOptions.ShutdownTimeout, which they keep, and the processor finishes its transaction in it.
        var shutdown = new Microsoft.Extensions.Hosting.HostOptions().ShutdownTimeout;
        var services = LoadCompose()["services"]!.AsObject();
        // Every .NET service, docs/compose.md says: the projects and the Aspire dashboard (until 2026-12-05 it had none).
        foreach (var name in Manifest.Resources.Values.Where(r => r.IsProject).Select(r => r.Name).Append(ComposeGenerator.DashboardService))
        {
            var grace = services[name]!["stop_grace_period"]?.GetValue<string>();
            Assert.True(grace is not null && grace.EndsWith('s') && TimeSpan.FromSeconds(int.Parse(grace[..^1], System.Globalization.CultureInfo.InvariantCulture)) > shutdown,
                $"{name}: stop_grace_period '{grace ?? "(none: Docker's 10 s)"}' is not above the host's shutdown timeout ({shutdown.TotalSeconds} s)");
        }
    }

    [Fact]
    public void TheBrokerHasAsLongToStopAsInKubernetes()
    {
        // Docker kills a container 10 s after SIGTERM unless stop_grace_period says otherwise; the broker's controlled
        // shutdown (leadership moved, logs flushed) gets the grace of the committed Kubernetes StatefulSet.
        var statefulSet = Assert.Single(K8s.Kustomize.LoadStrict(File.ReadAllText(Path.Combine(RepositoryLayout.Root, "deploy", "k8s", "kafka", "statefulset.yaml"))).OfType<k8s.Models.V1StatefulSet>());
        var grace = LoadCompose()["services"]!["kafka"]!["stop_grace_period"]?.GetValue<string>();

        Assert.Equal($"{statefulSet.Spec.Template.Spec.TerminationGracePeriodSeconds}s", grace ?? "(none: Docker's 10 s)");
    }

    [Fact]
    public void EveryListenerTheBrokerAdvertisesIsOneItListensOnAndContainersCanReach()
    {
        // Clients and the broker itself (the transaction coordinator writes every transaction's markers through the
        // inter-broker listener, even to itself) connect to what is advertised, not to what is bound.
        var environment = LoadCompose()["services"]!["kafka"]!["environment"]!;
        var bound = KafkaListeners(environment["KAFKA_LISTENERS"]!.GetValue<string>());
        var advertised = KafkaListeners(environment["KAFKA_ADVERTISED_LISTENERS"]!.GetValue<string>());
        Assert.Equal(["PLAINTEXT", "PLAINTEXT_HOST", "PLAINTEXT_INTERNAL"], advertised.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, (host, port)) in advertised)
        {
            var (bindHost, bindPort) = bound[name];
            var where = $"{name}://{host}:{port} (bound to {bindHost}:{bindPort})";
            if (name == "PLAINTEXT_HOST")
            {
                // Published on the host: advertised as ${KAFKA_HOST}:${KAFKA_PORT} (.env: localhost), the host's side of
                // the port mapping; until 2026-12-06 always localhost, so clients on the network were sent to their own.
                Assert.Equal(("${KAFKA_HOST}", "0.0.0.0"), (host, bindHost));
                Assert.Contains("\nKAFKA_HOST=localhost\n", File.ReadAllText(Path.Combine(Folder, ".env")), StringComparison.Ordinal);
                continue;
            }

            Assert.True(host is "localhost" || bindHost is not ("localhost" or "127.0.0.1"), $"{where}: a listener bound to loopback is reachable only inside its container");
            Assert.True(port == bindPort, $"{where}: advertised on another port than it listens on");
        }

        Assert.Equal(("kafka", "9093"), advertised["PLAINTEXT_INTERNAL"]);
    }

    /// <summary><c>NAME://host:port,...</c> by listener name (the advertised port may be a compose variable).</summary>
    private static Dictionary<string, (string Host, string Port)> KafkaListeners(string text) => text.Split(',').Select(l =>
    {
        var scheme = l.IndexOf("://", StringComparison.Ordinal);
        var address = l[(scheme + 3)..];
        var colon = address.LastIndexOf(':');
        return (Name: l[..scheme], Host: address[..colon], Port: address[(colon + 1)..]);
    }).ToDictionary(l => l.Name, l => (l.Host, l.Port));

    [Fact]
    public void TopicsServiceRunsTheSameScriptAsTheKubernetesJob()
    {
        var command = LoadCompose()["services"]!["kafka-topics"]!["command"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();
        var topics = PipelineTopics.All.Select(t => t with { Name = $"${{{t.Setting}}}" });

        Assert.Equal(["sh", "-c", TopicsScript.Render("kafka-topics", "kafka:9093", new ComposeOptions().Partitions, 1, topics)], command);
    }

    private static void DropLegacyKeywords(JsonNode? node)
    {
        if (node is JsonObject obj)
        {
            obj.Remove("$schema");
            if (obj["id"] is JsonValue id && id.GetValueKind() == JsonValueKind.String)
            {
                obj.Remove("id");
            }

            foreach (var (_, child) in obj.ToList())
            {
                DropLegacyKeywords(child);
            }
        }
        else if (node is JsonArray array)
        {
            foreach (var child in array)
            {
                DropLegacyKeywords(child);
            }
        }
    }

    /// <summary>The compose file as JSON, scalars typed as YAML reads them (a quoted "8" stays a string).</summary>
    private static JsonNode LoadCompose()
    {
        var yaml = new DeserializerBuilder().WithAttemptingUnquotedStringTypeDeserialization().Build().Deserialize<object>(File.ReadAllText(ComposePath));
        return ToJson(yaml)!;
    }

    private static JsonNode? ToJson(object? value) => value switch
    {
        IDictionary<object, object> map => new JsonObject(map.Select(p => KeyValuePair.Create((string)p.Key, ToJson(p.Value)))),
        IList<object> list => new JsonArray([.. list.Select(ToJson)]),
        null => null,
        _ => JsonSerializer.SerializeToNode(value),
    };
}
