using System.CommandLine;
using SignalPipeline.Cli.Kubernetes;

namespace SignalPipeline.Cli.Compose;

/// <summary><c>signal-pipeline compose generate</c>: docker compose output from aspire-manifest.json.</summary>
public static class ComposeCommand
{
    public static Command Create()
    {
        var defaults = new ComposeOptions();
        var manifest = new Option<string>("--manifest") { Description = "The Aspire manifest to read.", DefaultValueFactory = _ => "aspire-manifest.json" };
        var output = new Option<string>("--output") { Description = "Folder to write docker-compose.yaml, .env and gateway.env to.", DefaultValueFactory = _ => "deploy/compose" };
        var registry = new Option<string>("--registry") { Description = "Default REGISTRY in .env (as `k8s images --registry`).", DefaultValueFactory = _ => defaults.Registry };
        var tag = new Option<string>("--tag") { Description = "Default TAG in .env.", DefaultValueFactory = _ => defaults.Tag };
        var partitions = new Option<int>("--partitions") { Description = "Partitions of every pipeline topic.", DefaultValueFactory = _ => defaults.Partitions };
        var replicas = new Option<int>("--processor-replicas") { Description = "Replicas of filter-kafka-processor.", DefaultValueFactory = _ => defaults.ProcessorReplicas };

        var generate = new Command("generate", "Write deploy/compose (docker-compose.yaml, .env, gateway.env) from aspire-manifest.json.")
        {
            manifest, output, registry, tag, partitions, replicas,
        };
        generate.SetAction(parse =>
        {
            try
            {
                var options = defaults with
                {
                    Registry = parse.GetValue(registry)!,
                    Tag = parse.GetValue(tag)!,
                    Partitions = parse.GetValue(partitions),
                    ProcessorReplicas = parse.GetValue(replicas),
                };
                var files = new ComposeGenerator(AspireManifest.Load(parse.GetValue(manifest)!), options).Generate();
                var folder = parse.GetValue(output)!;
                Write(folder, files);
                parse.InvocationConfiguration.Output.WriteLine($"Wrote {string.Join(", ", files.Select(f => f.Path))} to {folder}.");
                return 0;
            }
            catch (ManifestException ex)
            {
                parse.InvocationConfiguration.Error.WriteLine($"error: {ex.Message}");
                return 2;
            }
        });
        return new Command("compose", "docker compose deployment from the AppHost's manifest.") { generate };
    }

    /// <summary>Writes the files; refuses to overwrite a compose file that this command did not write.</summary>
    public static void Write(string folder, IReadOnlyList<GeneratedFile> files)
    {
        Directory.CreateDirectory(folder);
        var compose = Path.Combine(folder, "docker-compose.yaml");
        if (File.Exists(compose) && !File.ReadAllText(compose).StartsWith(ComposeGenerator.Header, StringComparison.Ordinal))
        {
            throw new ManifestException($"{compose} was not written by 'compose generate'; choose another --output.");
        }

        foreach (var file in files)
        {
            File.WriteAllText(Path.Combine(folder, file.Path), file.Content);
        }
    }
}
