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
        var registry = new Option<string>("--registry") { Description = "REGISTRY in .env (as `k8s images --registry`); given, it replaces the existing .env's.", DefaultValueFactory = _ => defaults.Registry };
        var tag = new Option<string>("--tag") { Description = "TAG in .env; given, it replaces the existing .env's.", DefaultValueFactory = _ => defaults.Tag };
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
                // Only an option typed on the command line replaces the user's value; its default does not.
                var given = new HashSet<string>(StringComparer.Ordinal);
                if (parse.GetResult(registry) is { Implicit: false })
                {
                    given.Add(ComposeGenerator.RegistrySetting);
                }

                if (parse.GetResult(tag) is { Implicit: false })
                {
                    given.Add(ComposeGenerator.TagSetting);
                }

                var notes = Write(folder, files, given);
                parse.InvocationConfiguration.Output.WriteLine($"Wrote {string.Join(", ", files.Select(f => f.Path))} to {folder}.");
                foreach (var note in notes)
                {
                    parse.InvocationConfiguration.Output.WriteLine(note);
                }

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

    /// <summary>The files a user edits: an existing one's values are kept (<see cref="KeptSettings"/>).</summary>
    public static readonly IReadOnlyList<string> SettingsFiles = [".env", "gateway.env"];

    /// <summary>
    /// Writes the files; refuses to overwrite a compose file that this command did not write. Over existing
    /// <see cref="SettingsFiles"/> the user's values are kept, except the settings in <paramref name="given"/> (set by
    /// an option on the command line). Returns the lines that say what was kept and dropped (none in a fresh folder).
    /// </summary>
    public static IReadOnlyList<string> Write(string folder, IReadOnlyList<GeneratedFile> files, IReadOnlySet<string>? given = null)
    {
        KubernetesOutput.CreateFolder(folder);
        var compose = Path.Combine(folder, "docker-compose.yaml");
        if (File.Exists(compose) && !File.ReadAllText(compose).StartsWith(ComposeGenerator.Header, StringComparison.Ordinal))
        {
            throw new ManifestException($"{compose} was not written by 'compose generate'; choose another --output.");
        }

        var merged = new List<(string File, KeptSettings Settings)>();
        foreach (var file in files)
        {
            var path = Path.Combine(folder, file.Path);
            var content = file.Content;
            if (SettingsFiles.Contains(file.Path) && File.Exists(path))
            {
                var settings = KeptSettings.Merge(content, File.ReadAllText(path), given ?? new HashSet<string>());
                merged.Add((file.Path, settings));
                content = settings.Content;
            }

            File.WriteAllText(path, content);
        }

        if (merged.Count == 0)
        {
            return [];
        }

        var kept = merged.Where(m => m.Settings.Kept.Count > 0).Select(m => $"{m.File} {string.Join(", ", m.Settings.Kept)}").ToList();
        return
        [
            $"Kept from the existing {string.Join(" and ", merged.Select(m => m.File))}: " +
                (kept.Count > 0 ? string.Join("; ", kept) + "." : "nothing (no value differs from the defaults)."),
            .. merged.Where(m => m.Settings.Dropped.Count > 0)
                .Select(m => $"Dropped from {m.File}, settings this version no longer has: {string.Join(", ", m.Settings.Dropped)}."),
        ];
    }
}
