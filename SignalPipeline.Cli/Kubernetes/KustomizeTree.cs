using k8s;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// The generated tree: a folder per resource with its kustomization, the root kustomization (namespace and common
/// labels), and overlays, which list the base's folders one by one (kustomize refuses "../.." from inside the base).
/// </summary>
internal sealed class KustomizeTree(KubernetesOptions options)
{
    private readonly List<GeneratedFile> _files = [];
    private readonly SortedSet<string> _folders = new(StringComparer.Ordinal);

    public IReadOnlyList<GeneratedFile> Files => _files;

    /// <summary>The base's folders so far, sorted.</summary>
    public IEnumerable<string> Folders => _folders;

    /// <summary>A base folder: its objects, extra files, and a kustomization listing the objects.</summary>
    public void Folder(string path, IEnumerable<(string File, object Object)> objects, IEnumerable<GeneratedFile>? extra = null, KustomizeSecretGenerator? secrets = null)
    {
        _folders.Add(path);
        WriteFolder(path, objects, extra, secrets);
    }

    public void Root(IEnumerable<string> folders)
    {
        _files.Add(KustomizeYaml.File("kustomization.yaml", Common([.. folders])));
        _files.Add(new GeneratedFile(".gitignore", "# Secret values for secretGenerator: never committed (docs/kubernetes.md).\n*" + KubernetesOutput.SecretsSuffix + "\n"));
    }

    /// <summary>An overlay under <c>overlays/{name}</c>: base folders, folders and files of its own, patches.</summary>
    public void Overlay(
        string name, string comment, IEnumerable<string> baseFolders,
        IReadOnlyList<(string Folder, IReadOnlyList<(string File, object Object)> Objects)> ownFolders,
        IReadOnlyList<(string File, object Object)>? ownFiles = null, IReadOnlyList<string>? patches = null)
    {
        var root = $"overlays/{name}/";
        foreach (var (folder, objects) in ownFolders)
        {
            WriteFolder(root + folder, objects, null, null);
        }

        foreach (var (file, obj) in ownFiles ?? [])
        {
            _files.Add(ToFile(root + file, obj));
        }

        var resources = new List<string>([.. baseFolders.Select(f => "../../" + f), .. ownFolders.Select(f => f.Folder)]);
        resources.AddRange((ownFiles ?? []).Select(f => f.File).Where(f => patches?.Contains(f) != true));
        _files.Add(KustomizeYaml.File(root + "kustomization.yaml",
            Common(resources) with { Patches = patches?.Select(p => new KustomizePatch(p)).ToList() }, comment));
    }

    private void WriteFolder(string path, IEnumerable<(string File, object Object)> objects, IEnumerable<GeneratedFile>? extra, KustomizeSecretGenerator? secrets)
    {
        var resources = new List<string>();
        foreach (var (file, obj) in objects)
        {
            _files.Add(ToFile($"{path}/{file}", obj));
            resources.Add(file);
        }

        _files.AddRange(extra ?? []);
        resources.Sort(StringComparer.Ordinal);
        _files.Add(KustomizeYaml.File($"{path}/kustomization.yaml", new Kustomization
        {
            Resources = resources,
            SecretGenerator = secrets is null ? null : [secrets],
        }));
    }

    /// <summary>Namespace and labels: the same in the base and in the overlays.</summary>
    private Kustomization Common(IReadOnlyList<string> resources) => new()
    {
        Namespace = options.Namespace,
        Labels = [new KustomizeLabels(new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = "signal-pipeline" }, IncludeTemplates: true)],
        Resources = resources,
    };

    private static GeneratedFile ToFile(string path, object obj) => obj switch
    {
        GeneratedFile file => file with { Path = path },
        IKubernetesObject => KubernetesObjects.Yaml(path, obj),
        _ => KustomizeYaml.File(path, obj),
    };
}
