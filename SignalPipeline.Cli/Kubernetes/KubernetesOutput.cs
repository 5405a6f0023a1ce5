namespace SignalPipeline.Cli.Kubernetes;

/// <summary>Writes a generated tree, replacing what an earlier generation wrote.</summary>
public static class KubernetesOutput
{
    public const string SecretsSuffix = ".secrets.env";

    /// <summary>
    /// Creates <paramref name="folder"/> (an existing one is left as it is) before anything in it is deleted or written,
    /// and returns its full path. An <c>--output</c> that cannot be a folder (a file there or on its path, no permission)
    /// is bad input, named, exit 2 (docs/operations.md), as <c>k8s generate</c> and <c>compose generate</c> promise;
    /// until 2026-12-05 it was .NET's IOException with a stack trace, exit 1.
    /// </summary>
    public static string CreateFolder(string folder)
    {
        try
        {
            return Directory.CreateDirectory(folder).FullName;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ManifestException($"--output '{folder}' cannot be a folder: {ex.Message}");
        }
    }

    /// <summary>
    /// Replaces <paramref name="folder"/> with <paramref name="files"/>. Files named <c>*.secrets.env</c> (the user's
    /// uncommitted secret values) are kept. Refuses a non-empty folder that a generation did not write, so a
    /// mistyped --output cannot wipe unrelated files.
    /// </summary>
    public static void Write(string folder, IReadOnlyList<GeneratedFile> files)
    {
        var root = CreateFolder(folder);
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
