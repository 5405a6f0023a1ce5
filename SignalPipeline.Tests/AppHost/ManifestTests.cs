using System.Text.Json.Nodes;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.AppHost;

/// <summary>The committed aspire-manifest.json is what the AppHost's manifest publisher writes today.</summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class ManifestTests
{
    private const string RefreshHint = "Refresh it with scripts/generate-manifest.sh and commit aspire-manifest.json.";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task The_committed_manifest_is_up_to_date()
    {
        var root = RepositoryLayout.Root;
        var committed = Path.Combine(root, "aspire-manifest.json");
        Assert.True(File.Exists(committed), $"aspire-manifest.json is missing. {RefreshHint}");

        // Written next to the committed file: the manifest's project paths are relative to where it is written.
        var fresh = Path.Combine(root, $".aspire-manifest.{Guid.NewGuid():N}.json");
        try
        {
            await GenerateAsync(root, fresh);
            var expected = JsonNode.Parse(await File.ReadAllTextAsync(committed));
            var actual = JsonNode.Parse(await File.ReadAllTextAsync(fresh));
            Assert.True(JsonNode.DeepEquals(expected, actual),
                $"aspire-manifest.json is out of date. {RefreshHint}{Environment.NewLine}Generated now:{Environment.NewLine}{actual}");
        }
        finally
        {
            File.Delete(fresh);
        }
    }

    [Fact]
    public async Task The_manifest_describes_kafka_as_a_container_whatever_this_machine_has()
    {
        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryLayout.Root, "aspire-manifest.json")))!;
        var kafka = manifest["resources"]!["kafka"]!;

        Assert.Equal("container.v0", (string?)kafka["type"]);
        Assert.StartsWith("docker.io/confluentinc/confluent-local:", (string?)kafka["image"]);
        Assert.Equal("{kafka.bindings.tcp.host}:{kafka.bindings.tcp.port}", (string?)kafka["connectionString"]);
    }

    private static async Task GenerateAsync(string root, string outputPath)
    {
        var start = ExternalProcess.Command("dotnet",
            "run", "--project", "SignalPipeline.AppHost", "--no-build", "--configuration", RepositoryLayout.Configuration, "--",
            "--publisher", "manifest", "--output-path", Path.GetRelativePath(Path.Combine(root, "SignalPipeline.AppHost"), outputPath));
        start.WorkingDirectory = root;

        // The manifest must not depend on who runs the test.
        start.Environment.Remove("KAFKA_BROKERS");
        start.Environment.Remove("ConnectionStrings__kafka");

        var result = await ExternalProcess.RunAsync(start, Timeout);
        Assert.True(result.ExitCode == 0, $"The manifest publisher exited {result.ExitCode}:{Environment.NewLine}{result.Output}{result.Error}");
    }
}
