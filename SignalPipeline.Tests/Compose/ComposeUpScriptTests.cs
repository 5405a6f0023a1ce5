using SignalPipeline.Cli.Kubernetes;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Compose;

/// <summary>scripts/compose-up.sh: what --dry-run would do (no Docker engine here), and that shellcheck finds nothing.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class ComposeUpScriptTests
{
    private static readonly string Script = Path.Combine(RepositoryLayout.Root, "scripts", "compose-up.sh");

    [Fact]
    public async Task DryRunBuildsTheK8sImageNamesIntoTheEngineAndStartsComposeWaitingForHealth()
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "signal-pipeline.dll");
        var start = ExternalProcess.Command("bash", Script, "--tag", "v3", "--generator", "--dry-run");
        start.Environment["SIGNAL_PIPELINE_CLI"] = $"dotnet {cli}";

        var result = await ExternalProcess.RunAsync(start, TimeSpan.FromMinutes(2));

        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        var images = new KubernetesGenerator(AspireManifest.Load(Path.Combine(RepositoryLayout.Root, "aspire-manifest.json")), new KubernetesOptions { Tag = "v3" }).ProjectImages();
        Assert.NotEmpty(images);
        foreach (var image in images)
        {
            Assert.Contains($"+ dotnet publish {image.ProjectPath} -c Release --os linux --arch x64 -t:PublishContainer -p:ContainerRepository={image.Repository} -p:ContainerImageTag=v3", result.Output);
            Assert.Contains($"+ docker tag {image.Repository}:v3 {image.Reference}", result.Output);
        }

        Assert.Contains("+ docker compose --project-directory deploy/compose -f deploy/compose/docker-compose.yaml --profile generator up -d --wait", result.Output);
    }

    [Fact]
    public async Task UnknownArgumentIsAnError()
    {
        var result = await ExternalProcess.RunAsync(ExternalProcess.Command("bash", Script, "--bogus"), TimeSpan.FromMinutes(1));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown argument '--bogus'", result.Error);
    }

    [Fact]
    public async Task ScriptIsShellcheckClean()
    {
        var shellcheck = new[] { "/usr/bin/shellcheck", "/usr/local/bin/shellcheck" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("shellcheck is not installed: run scripts/test.sh (it installs it) or apt-get install -y shellcheck.");
        var result = await ExternalProcess.RunAsync(ExternalProcess.Command(shellcheck, Script), TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 0, result.Output + result.Error);
    }
}
