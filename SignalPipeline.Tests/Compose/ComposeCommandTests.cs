using System.CommandLine;
using SignalPipeline.Cli.Compose;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.K8s;

namespace SignalPipeline.Tests.Compose;

/// <summary>
/// <c>signal-pipeline compose generate</c> run again over a folder a user has edited, as docs/compose.md tells users to
/// after an AppHost change: the values set in <c>.env</c> and <c>gateway.env</c> survive, as <c>*.secrets.env</c> do
/// for <c>k8s generate</c>.
/// </summary>
public sealed class ComposeCommandTests
{
    private static readonly string Committed = Path.Combine(RepositoryLayout.Root, "deploy", "compose");
    private static readonly string Manifest = Path.Combine(RepositoryLayout.Root, "aspire-manifest.json");

    [Fact]
    public void RegeneratingKeepsTheUsersValuesAddsNewSettingsAndDropsOnesTheAppNoLongerHas()
    {
        using var temp = CopyOfCommitted();
        var env = Path.Combine(temp.Path, ".env");
        // An older version's .env, edited: no FILTER_MODE yet, a setting since removed, three values changed.
        var committed = Edit(env, ("TAG=latest\n", "TAG=1.4.0\n"), ("BIND_ADDRESS=127.0.0.1\n", "BIND_ADDRESS=0.0.0.0\n"),
            ("FILTER_ALGORITHM=kalman\n", "FILTER_ALGORITHM=rls\n"), ("FILTER_MODE=local\n", "RETIRED_SETTING=7\n"));

        var (exit, output, errors) = Generate(temp.Path);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        var expected = committed
            .Replace("TAG=latest\n", "TAG=1.4.0\n", StringComparison.Ordinal)
            .Replace("BIND_ADDRESS=127.0.0.1\n", "BIND_ADDRESS=0.0.0.0\n", StringComparison.Ordinal)
            .Replace("FILTER_ALGORITHM=kalman\n", "FILTER_ALGORITHM=rls\n", StringComparison.Ordinal);
        Assert.Equal(expected, File.ReadAllText(env));
        Assert.Contains("Kept from the existing .env and gateway.env: .env TAG, BIND_ADDRESS, FILTER_ALGORITHM.\n", output, StringComparison.Ordinal);
        Assert.Contains("Dropped from .env, settings this version no longer has: RETIRED_SETTING.\n", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2.0.0")]
    [InlineData("latest")] // the default, typed: still the user's choice over the file's
    public void ATagOrRegistryGivenOnTheCommandLineReplacesTheFilesOthersAreKept(string tag)
    {
        using var temp = CopyOfCommitted();
        var env = Path.Combine(temp.Path, ".env");
        Edit(env, ("REGISTRY=localhost:5001\n", "REGISTRY=ghcr.io/me\n"), ("TAG=latest\n", "TAG=1.4.0\n"), ("FILTER_MODE=local\n", "FILTER_MODE=remote\n"));

        var (exit, output, errors) = Generate(temp.Path, "--tag", tag);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        var written = File.ReadAllText(env);
        Assert.Contains($"\nTAG={tag}\n", written, StringComparison.Ordinal);
        Assert.Contains("\nREGISTRY=ghcr.io/me\n", written, StringComparison.Ordinal);
        Assert.Contains("\nFILTER_MODE=remote\n", written, StringComparison.Ordinal);
        Assert.Contains("Kept from the existing .env and gateway.env: .env REGISTRY, FILTER_MODE.\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void AServiceUrlTheUserUncommentedInGatewayEnvIsKept()
    {
        using var temp = CopyOfCommitted();
        var gateway = Path.Combine(temp.Path, "gateway.env");
        var committed = Edit(gateway, ("# KALMAN_SERVICE_URL=http://kalman-host:8000\n", "KALMAN_SERVICE_URL=http://10.0.0.7:9000\n"));
        File.AppendAllText(gateway, "SPLINE_SERVICE_URL=http://spline-host:8000\n");

        var (exit, output, errors) = Generate(temp.Path);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal(committed.Replace("# KALMAN_SERVICE_URL=http://kalman-host:8000\n", "KALMAN_SERVICE_URL=http://10.0.0.7:9000\n", StringComparison.Ordinal),
            File.ReadAllText(gateway));
        Assert.Contains("Kept from the existing .env and gateway.env: gateway.env KALMAN_SERVICE_URL.\n", output, StringComparison.Ordinal);
        Assert.Contains("Dropped from gateway.env, settings this version no longer has: SPLINE_SERVICE_URL.\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void AFreshFolderGetsTheCommittedFilesAndRegeneratingThemChangesNothing()
    {
        using var temp = new TempFolder();
        var fresh = Path.Combine(temp.Path, "compose");

        var (exit, output, errors) = Generate(fresh);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Equal($"Wrote .env, docker-compose.yaml, gateway.env to {fresh}.\n", output.ReplaceLineEndings("\n"));
        AssertSameAsCommitted(fresh);

        (exit, output, errors) = Generate(fresh);

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Contains("Kept from the existing .env and gateway.env: nothing (no value differs from the defaults).\n", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Dropped", output, StringComparison.Ordinal);
        AssertSameAsCommitted(fresh);
    }

    [Fact]
    public void OnlySetLinesAreKeptTheLastOfTwiceSetWindowsLineEndingsRead()
    {
        var generated = "# Section\nA=1\nB=2\n# C=3\nD=4\n";
        var existing = "# Section\r\nA=1\r\n# B=9\r\nC=http://x\r\nD=5\r\nD=6\r\n";

        var merged = KeptSettings.Merge(generated, existing, new HashSet<string>());

        Assert.Equal("# Section\nA=1\nB=2\nC=http://x\nD=6\n", merged.Content);
        Assert.Equal(["C", "D"], merged.Kept);
        Assert.Empty(merged.Dropped);
    }

    private static void AssertSameAsCommitted(string folder)
    {
        Assert.Equal(Directory.EnumerateFiles(Committed).Select(Path.GetFileName).Order(StringComparer.Ordinal),
            Directory.EnumerateFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var file in Directory.EnumerateFiles(Committed))
        {
            Assert.Equal(File.ReadAllText(file), File.ReadAllText(Path.Combine(folder, Path.GetFileName(file))));
        }
    }

    /// <summary>Replaces lines of a file as a user would edit them; returns the file as it was.</summary>
    private static string Edit(string path, params (string From, string To)[] edits)
    {
        var original = File.ReadAllText(path);
        var edited = original;
        foreach (var (from, to) in edits)
        {
            Assert.Contains(from, edited, StringComparison.Ordinal);
            edited = edited.Replace(from, to, StringComparison.Ordinal);
        }

        File.WriteAllText(path, edited);
        return original;
    }

    [Fact]
    public void AManifestWithoutAKafkaContainerIsExitTwoNamingItAndWritesNothing()
    {
        // The AppHost's manifest with its Kafka resource taken out (an existing cluster instead, say).
        using var temp = new TempFolder();
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Manifest))!;
        Assert.True(manifest["resources"]!.AsObject().Remove("kafka"));
        var withoutKafka = Path.Combine(temp.Path, "aspire-manifest.json");
        File.WriteAllText(withoutKafka, manifest.ToJsonString());
        var folder = Path.Combine(temp.Path, "compose");

        var root = new RootCommand("test") { ComposeCommand.Create() };
        var output = new StringWriter();
        var errors = new StringWriter();
        var exit = root.Parse(["compose", "generate", "--manifest", withoutKafka, "--output", folder]).Invoke(new InvocationConfiguration { Output = output, Error = errors });

        Assert.True(exit == 2, $"exit {exit}: {errors}");
        Assert.Equal("error: The manifest has no Kafka container (a container with an 'internal' binding and a connection string).", errors.ToString().Trim());
        Assert.Equal("", output.ToString());
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public void AnOutputThatIsAFileIsExitTwoNamingItAndTheFileIsLeftAlone()
    {
        // Until 2026-12-05: .NET's IOException with a stack trace, exit 1.
        using var temp = new TempFolder();
        var file = Path.Combine(temp.Path, "compose");
        File.WriteAllText(file, "keep me");

        var (exit, _, errors) = Generate(file);

        Assert.True(exit == 2, $"exit {exit}: {errors}");
        Assert.StartsWith($"error: --output '{file}' cannot be a folder: ", Assert.Single(errors.Trim().Split('\n')), StringComparison.Ordinal);
        Assert.Equal("keep me", File.ReadAllText(file));
    }

    private static TempFolder CopyOfCommitted()
    {
        var temp = new TempFolder();
        foreach (var file in Directory.EnumerateFiles(Committed))
        {
            File.Copy(file, Path.Combine(temp.Path, Path.GetFileName(file)));
        }

        return temp;
    }

    private static (int Exit, string Output, string Errors) Generate(string folder, params string[] options)
    {
        var root = new RootCommand("test") { ComposeCommand.Create() };
        var output = new StringWriter { NewLine = "\n" };
        var errors = new StringWriter();
        var exit = root.Parse(["compose", "generate", "--manifest", Manifest, "--output", folder, .. options]).Invoke(new InvocationConfiguration { Output = output, Error = errors });
        return (exit, output.ToString(), errors.ToString());
    }
}
