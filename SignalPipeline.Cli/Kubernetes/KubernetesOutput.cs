namespace SignalPipeline.Cli.Kubernetes;

/// <summary>Writes a generated tree, replacing what an earlier generation wrote.</summary>
public static class KubernetesOutput
{
    public const string SecretsSuffix = ".secrets.env";

    /// <summary>
    /// Replaces <paramref name="folder"/> with <paramref name="files"/>. Files named <c>*.secrets.env</c> (the user's
    /// uncommitted secret values) are kept. Refuses a non-empty folder that a generation did not write, so a
    /// mistyped --output cannot wipe unrelated files.
    /// </summary>
    public static void Write(string folder, IReadOnlyList<GeneratedFile> files)
    {
        var root = Path.GetFullPath(folder);
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            var marker = Path.Combine(root, "kustomization.yaml");
            if (!File.Exists(marker) || !File.ReadAllText(marker).Contains("signal-pipeline k8s generate", StringComparison.Ordinal))
            {
                throw new ManifestException($"Output folder '{folder}' is not empty and was not written by 'k8s generate'; choose another --output.");
            }

            foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
            {
                if (!file.EndsWith(SecretsSuffix, StringComparison.Ordinal))
                {
                    File.Delete(file);
                }
            }

            foreach (var dir in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length))
            {
                if (!Directory.EnumerateFileSystemEntries(dir).Any())
                {
                    Directory.Delete(dir);
                }
            }
        }

        foreach (var file in files)
        {
            var path = Path.Combine(root, file.Path.Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, file.Content);
        }
    }
}
