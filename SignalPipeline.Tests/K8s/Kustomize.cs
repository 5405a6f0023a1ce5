using System.Diagnostics;
using k8s;

namespace SignalPipeline.Tests.K8s;

/// <summary>The repository's folders, found from the test binaries (the folder holding SignalPipeline.sln).</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    public const string RegenerateCommand =
        "dotnet run --project SignalPipeline.Cli -- k8s generate (after scripts/generate-manifest.sh if the AppHost changed)";

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "SignalPipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"SignalPipeline.sln not found above {AppContext.BaseDirectory}.");
    }
}

/// <summary>Renders kustomize trees with kubectl (offline) and loads the result into KubernetesClient's models.</summary>
internal static class Kustomize
{
    public static string Kubectl { get; } = FindKubectl();

    /// <summary><c>kubectl kustomize DIR</c>; fails the test with kubectl's error output when it does not render.</summary>
    public static async Task<string> RenderAsync(string directory)
    {
        var (exit, output, errors) = await ProcessRunner.RunAsync(Kubectl, ["kustomize", directory]);
        Assert.True(exit == 0, $"kubectl kustomize {directory} failed (exit {exit}):\n{errors}");
        return output;
    }

    /// <summary>Every document, strictly: an unknown field or a wrong type throws.</summary>
    public static List<object> LoadStrict(string yaml) => KubernetesYaml.LoadAllFromString(yaml, strict: true);

    /// <summary>
    /// A copy of <paramref name="tree"/> where every <c>*.secrets.env.example</c> has its <c>*.secrets.env</c>, so
    /// kustomize's secretGenerators find their (placeholder) input as they would on a user's machine.
    /// </summary>
    public static string CopyWithSecretPlaceholders(string tree, string destination)
    {
        foreach (var file in Directory.EnumerateFiles(tree, "*", SearchOption.AllDirectories))
        {
            var relative = System.IO.Path.GetRelativePath(tree, file);
            if (relative.EndsWith(".secrets.env", StringComparison.Ordinal))
            {
                continue; // a developer's real values never go into test output
            }

            var target = System.IO.Path.Combine(destination, relative);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            if (target.EndsWith(".secrets.env.example", StringComparison.Ordinal))
            {
                File.Copy(file, target[..^".example".Length]);
            }
        }

        return destination;
    }

    private static string FindKubectl()
    {
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, "kubectl"))
            .Append("/usr/bin/kubectl");
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "kubectl is needed to render deploy/k8s (kubectl kustomize) and was not found on PATH or at /usr/bin/kubectl. " +
                "Install it (e.g. the Kubernetes apt repository's kubectl package); no cluster is needed.");
    }
}

/// <summary>Runs a tool to completion, bounded by a timeout, capturing its output.</summary>
internal static class ProcessRunner
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    public static async Task<(int Exit, string Output, string Errors)> RunAsync(string file, string[] args, params (string Name, string Value)[] env)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Repository.Root };
        foreach (var (name, value) in env)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout.WaitAsync(Timeout), await stderr.WaitAsync(Timeout));
    }
}

/// <summary>A temporary folder removed at dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("signal-pipeline-k8s-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
