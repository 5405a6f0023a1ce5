using SignalPipeline.Cli.Kubernetes;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.K8s;

/// <summary>scripts/deploy-k8s.sh: what --dry-run would do, and that shellcheck finds nothing.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class DeployScriptTests
{
    private static readonly string Script = Repository.Path("scripts", "deploy-k8s.sh");

    [Fact]
    public async Task DryRunPrintsThePublishApplyAndRolloutCommands()
    {
        var (exit, output, errors) = await DryRunAsync("--tag", "v7");

        Assert.True(exit == 0, $"exit {exit}\n{output}\n{errors}");
        var images = new KubernetesGenerator(AspireManifest.Load(Repository.Path("aspire-manifest.json")), new KubernetesOptions()).ProjectImages();
        Assert.NotEmpty(images);
        foreach (var image in images)
        {
            Assert.Contains(
                $"+ dotnet publish {image.ProjectPath} -c Release --os linux --arch x64 -t:PublishContainer -p:ContainerRegistry=registry.example.com " +
                $"-p:ContainerRepository=team/{image.Repository} -p:ContainerImageTag=v7", output);
        }

        Assert.Matches(@"\+ dotnet \S+signal-pipeline\.dll k8s generate --manifest aspire-manifest\.json --output \S+/k8s --registry registry\.example\.com/team --tag v7", output);
        Assert.Matches(@"\+ kubectl apply --server-side -k \S+/k8s\n", output);
        // The dashboard's API key comes from a file in the script's private temporary folder: printed commands (CI logs)
        // and the process list never show it.
        Assert.Matches(@"\+ kubectl create secret generic aspire-dashboard-otlp -n signal-processing --from-file=api-key=\S+/aspire-dashboard-otlp\.api-key\n", output);
        Assert.DoesNotContain("--from-literal", output);
        Assert.DoesNotMatch("[0-9a-f]{64}", output);
        // The Secret exists before any workload is applied: a project pod started without it (its key is optional)
        // would export with an unresolved key for its whole life. The namespace has to exist first.
        Assert.Matches(@"\+ kubectl apply --server-side -f \S+/k8s/namespace/namespace\.yaml\n", output);
        var namespaceApplied = output.IndexOf("+ kubectl apply --server-side -f ", StringComparison.Ordinal);
        var secretCreated = output.IndexOf("+ kubectl create secret generic aspire-dashboard-otlp ", StringComparison.Ordinal);
        var workloadsApplied = output.IndexOf("+ kubectl apply --server-side -k ", StringComparison.Ordinal);
        Assert.True(namespaceApplied >= 0 && namespaceApplied < secretCreated && secretCreated < workloadsApplied, output);
        Assert.Contains("+ kubectl rollout status deployment -n signal-processing -l app.kubernetes.io/part-of=signal-pipeline", output);
        Assert.DoesNotContain("kubectl delete", output);
    }

    [Fact]
    public async Task DryRunWithTheKedaOverlayDeletesTheCpuHpaBeforeItApplies()
    {
        var (exit, output, errors) = await DryRunAsync("--overlay", "keda");

        Assert.True(exit == 0, $"exit {exit}\n{output}\n{errors}");
        var delete = output.IndexOf("+ kubectl delete hpa filter-kafka-processor -n signal-processing --ignore-not-found\n", StringComparison.Ordinal);
        var apply = output.IndexOf("+ kubectl apply --server-side -k ", StringComparison.Ordinal);
        Assert.True(delete >= 0 && delete < apply, output);
        Assert.Matches(@"\+ kubectl apply --server-side -k \S+/k8s/overlays/keda\n", output);
    }

    [Fact]
    public async Task MissingRegistryIsAnError()
    {
        var (exit, _, errors) = await ProcessRunner.RunAsync("bash", [Script, "--dry-run"]);
        Assert.Equal(2, exit);
        Assert.Contains("--registry is required", errors);
    }

    [Fact]
    public async Task ScriptIsShellcheckClean()
    {
        var shellcheck = new[] { "/usr/bin/shellcheck", "/usr/local/bin/shellcheck" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("shellcheck is not installed: run scripts/test.sh (it installs it) or apt-get install -y shellcheck.");

        var (exit, output, errors) = await ProcessRunner.RunAsync(shellcheck, [Script]);
        Assert.True(exit == 0, output + errors);
    }

    /// <summary>The script with <c>--registry registry.example.com/team --dry-run</c> and <paramref name="options"/>, starting the built CLI.</summary>
    private static Task<(int Exit, string Output, string Errors)> DryRunAsync(params string[] options)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "signal-pipeline.dll");
        return ProcessRunner.RunAsync("bash", [Script, "--registry", "registry.example.com/team", .. options, "--dry-run"], ("SIGNAL_PIPELINE_CLI", $"dotnet {cli}"));
    }
}
