using System.Text.Json;
using System.Text.Json.Nodes;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// The parts of an Aspire deployment manifest (<c>aspire-manifest.json</c>) that the Kubernetes output needs:
/// <c>project.v0/v1</c>, <c>container.v0/v1</c>, <c>parameter.v0</c> and <c>value.v0</c> resources, as written by
/// Aspire's ManifestPublishingContext.
/// </summary>
public sealed class AspireManifest
{
    private AspireManifest(string directory, IReadOnlyDictionary<string, ManifestResource> resources)
    {
        Directory = directory;
        Resources = resources;
    }

    /// <summary>The folder of the manifest file; project paths in the manifest are relative to it.</summary>
    public string Directory { get; }

    /// <summary>Resources by name, in the manifest's order.</summary>
    public IReadOnlyDictionary<string, ManifestResource> Resources { get; }

    public static AspireManifest Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ManifestException(
                $"Manifest '{path}' not found. Write it with: dotnet run --project SignalPipeline.AppHost -- --publisher manifest --output-path ../aspire-manifest.json");
        }

        return Parse(File.ReadAllText(path), Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public static AspireManifest Parse(string json, string directory)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new ManifestException($"The manifest is not valid JSON: {ex.Message}");
        }

        if (root?["resources"] is not JsonObject resources)
        {
            throw new ManifestException("The manifest has no 'resources' object.");
        }

        var result = new Dictionary<string, ManifestResource>(StringComparer.Ordinal);
        foreach (var (name, node) in resources)
        {
            if (node is not JsonObject obj)
            {
                throw new ManifestException($"Resource '{name}' is not a JSON object.");
            }

            var resource = ManifestResource.FromJson(name, obj);
            result.Add(name, resource);
        }

        return new AspireManifest(directory, result);
    }
}

/// <summary>One entry of the manifest's <c>resources</c>.</summary>
public sealed record ManifestResource(
    string Name,
    string Type,
    string? Path,
    string? Image,
    ManifestBuild? Build,
    IReadOnlyList<string> Args,
    IReadOnlyList<KeyValuePair<string, string>> Env,
    IReadOnlyList<ManifestBinding> Bindings,
    IReadOnlyList<ManifestVolume> Volumes,
    string? ConnectionString,
    string? Value,
    IReadOnlyDictionary<string, ManifestInput> Inputs)
{
    public bool IsProject => Type is "project.v0" or "project.v1";

    public bool IsContainer => Type is "container.v0" or "container.v1";

    /// <summary>Projects and containers become workloads; parameters and values are only substituted.</summary>
    public bool IsWorkload => IsProject || IsContainer;

    public bool IsExternal => Bindings.Any(b => b.External);

    internal static ManifestResource FromJson(string name, JsonObject obj)
    {
        var type = obj["type"]?.GetValue<string>() ?? throw new ManifestException($"Resource '{name}' has no 'type'.");

        var env = new List<KeyValuePair<string, string>>();
        if (obj["env"] is JsonObject envObj)
        {
            foreach (var (key, value) in envObj)
            {
                env.Add(new(key, value?.GetValue<string>() ?? ""));
            }
        }

        var bindings = new List<ManifestBinding>();
        if (obj["bindings"] is JsonObject bindingsObj)
        {
            foreach (var (bindingName, value) in bindingsObj)
            {
                bindings.Add(new ManifestBinding(
                    bindingName,
                    value?["scheme"]?.GetValue<string>() ?? "tcp",
                    value?["protocol"]?.GetValue<string>() ?? "tcp",
                    value?["transport"]?.GetValue<string>() ?? "tcp",
                    value?["port"]?.GetValue<int>(),
                    value?["targetPort"]?.GetValue<int>(),
                    value?["external"]?.GetValue<bool>() ?? false));
            }
        }

        var volumes = new List<ManifestVolume>();
        if (obj["volumes"] is JsonArray volumesArr)
        {
            foreach (var v in volumesArr)
            {
                volumes.Add(new ManifestVolume(
                    v?["name"]?.GetValue<string>() ?? throw new ManifestException($"A volume of '{name}' has no name."),
                    v["target"]?.GetValue<string>() ?? throw new ManifestException($"Volume of '{name}' has no target."),
                    v["readOnly"]?.GetValue<bool>() ?? false));
            }
        }

        var inputs = new Dictionary<string, ManifestInput>(StringComparer.Ordinal);
        if (obj["inputs"] is JsonObject inputsObj)
        {
            foreach (var (inputName, value) in inputsObj)
            {
                inputs.Add(inputName, new ManifestInput(
                    value?["secret"]?.GetValue<bool>() ?? false,
                    value?["default"]?["value"]?.GetValue<string>(),
                    value?["default"]?["generate"] is not null));
            }
        }

        ManifestBuild? build = null;
        if (obj["build"] is JsonObject buildObj)
        {
            build = new ManifestBuild(
                buildObj["context"]?.GetValue<string>() ?? ".",
                buildObj["dockerfile"]?.GetValue<string>() ?? "Dockerfile");
        }

        return new ManifestResource(
            name,
            type,
            obj["path"]?.GetValue<string>(),
            obj["image"]?.GetValue<string>(),
            build,
            obj["args"] is JsonArray args ? args.Select(a => a?.GetValue<string>() ?? "").ToList() : [],
            env,
            bindings,
            volumes,
            obj["connectionString"]?.GetValue<string>(),
            obj["value"]?.GetValue<string>(),
            inputs);
    }
}

public sealed record ManifestBinding(
    string Name, string Scheme, string Protocol, string Transport, int? Port, int? TargetPort, bool External)
{
    public bool IsHttps => Scheme == "https";
}

public sealed record ManifestVolume(string Name, string Target, bool ReadOnly);

public sealed record ManifestBuild(string Context, string Dockerfile);

public sealed record ManifestInput(bool Secret, string? Default, bool Generated)
{
    /// <summary>Secret or generated: never written to generated files, its value comes from an uncommitted env file at deploy time.</summary>
    public bool IsSecret => Secret || Generated;
}

/// <summary>The manifest cannot be turned into Kubernetes objects; the message says what is wrong.</summary>
public sealed class ManifestException(string message) : Exception(message);
