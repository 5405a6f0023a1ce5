using System.CommandLine;
using SignalPipeline.Cli.Kubernetes;

namespace SignalPipeline.Tests.K8s;

/// <summary>
/// <c>signal-pipeline k8s generate|images</c> as a user runs them: bad input is exit 2 with one line naming it and
/// nothing written, as every verb of the tool does (README, docs/operations.md) and <c>compose generate</c> does.
/// </summary>
public sealed class KubernetesCommandTests
{
    private static readonly string Manifest = Repository.Path("aspire-manifest.json");

    [Fact]
    public void PartitionsBelowTheProcessorsMaximumReplicasAreExitTwoNamingTheOptionAndWriteNothing()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "k8s");

        var (exit, _, errors) = Invoke("k8s", "generate", "--manifest", Manifest, "--output", output, "--partitions", "10");

        Assert.True(exit == 2, $"exit {exit}: {errors}");
        Assert.Equal("error: --partitions (10) must be at least the maximum replicas (20), or replicas beyond it idle.", errors.Trim());
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("10.0.0/8")]         // .NET reads 10.0.0.0/8
    [InlineData("10.1.0.0/8")]       // address bits past the prefix
    [InlineData("010.0.0.0/8")]      // octal: 8.0.0.0/8
    [InlineData("10.0.0.0")]         // an address, not a network
    [InlineData("10.0.0.0/8,pods")]
    public void KnownNetworksTheGatewayAndTheBridgeWouldRefuseAtStartAreExitTwoNamingTheOptionAndWriteNothing(string networks)
    {
        // Written as they were, the public pods stopped at start on the cluster, naming ForwardedHeaders:KnownNetworks.
        Assert.False(new Microsoft.Extensions.Hosting.TrustedProxiesValidator().Validate(null, new Microsoft.Extensions.Hosting.TrustedProxies { KnownNetworks = networks }).Succeeded);
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "k8s");

        var (exit, _, errors) = Invoke("k8s", "generate", "--manifest", Manifest, "--output", output, "--known-networks", networks);

        Assert.True(exit == 2, $"exit {exit}: {errors}");
        Assert.StartsWith("error: --known-networks: '", errors, StringComparison.Ordinal);
        Assert.Single(errors.Trim().Split('\n'));
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("Ingress-NGINX")]
    [InlineData("ingress_nginx")]
    [InlineData("-ingress")]
    [InlineData("")]
    public void AnIngressNamespaceThatIsNoNamespaceNameIsExitTwoAndWritesNothing(string ingressNamespace)
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "k8s");

        var (exit, _, errors) = Invoke("k8s", "generate", "--manifest", Manifest, "--output", output, "--ingress-namespace", ingressNamespace);

        Assert.True(exit == 2, $"exit {exit}: {errors}");
        Assert.Equal($"error: --ingress-namespace '{ingressNamespace}' is not a namespace name (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit).", errors.Trim());
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("199")]
    [InlineData("1")]
    [InlineData("-1")]
    public void ABurstBelowTheRateOtherThanZeroIsExitTwoNamingTheOptionAndWritesNothing(string burst)
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "k8s");

        var (exit, _, errors) = Invoke("k8s", "generate", "--manifest", Manifest, "--output", output, "--rate-limit", "200", "--rate-limit-burst", burst);

        Assert.True(exit == 2, $"exit {exit}: {errors}");
        Assert.Equal($"error: --rate-limit-burst ({burst}) must be 0 (the rate) or at least --rate-limit (200).", errors.Trim());
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void ABurstOfZeroIsWrittenAsTheGatewayReadsIt()
    {
        // FilterGateway:RateLimitBurst = 0 is the gateway's "equal to the rate" (docs/filter-api.md); until 2026-12-05
        // k8s generate refused it with exit 2.
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "k8s");

        var (exit, _, errors) = Invoke("k8s", "generate", "--manifest", Manifest, "--output", output, "--rate-limit", "200", "--rate-limit-burst", "0");

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        var config = Assert.IsType<k8s.Models.V1ConfigMap>(Assert.Single(Kustomize.LoadStrict(File.ReadAllText(Path.Combine(output, "filter-gateway", "configmap.yaml"))))).Data;
        Assert.Equal("200", config["FilterGateway__RateLimitPermitsPerSecond"]);
        Assert.Equal("0", config["FilterGateway__RateLimitBurst"]);
    }

    [Fact]
    public void KnownNetworksAndAnIngressNamespaceOfAClusterAreWritten()
    {
        const string Networks = "10.244.0.0/16, fd00::/8";
        Assert.True(new Microsoft.Extensions.Hosting.TrustedProxiesValidator().Validate(null, new Microsoft.Extensions.Hosting.TrustedProxies { KnownNetworks = Networks }).Succeeded);
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "k8s");

        var (exit, _, errors) = Invoke("k8s", "generate", "--manifest", Manifest, "--output", output, "--known-networks", Networks, "--ingress-namespace", "ingress");

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Contains($"ForwardedHeaders__KnownNetworks: {Networks}", File.ReadAllText(Path.Combine(output, "filter-gateway", "configmap.yaml")), StringComparison.Ordinal);
        Assert.Contains("kubernetes.io/metadata.name: ingress", File.ReadAllText(Path.Combine(output, "websocket-bridge", "networkpolicy.yaml")), StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingManifestIsExitTwoForGenerateAndImages()
    {
        using var temp = new TempFolder();
        var missing = Path.Combine(temp.Path, "aspire-manifest.json");

        var generate = Invoke("k8s", "generate", "--manifest", missing, "--output", Path.Combine(temp.Path, "k8s"));
        var images = Invoke("k8s", "images", "--manifest", missing);

        foreach (var (exit, _, errors) in new[] { generate, images })
        {
            Assert.True(exit == 2, $"exit {exit}: {errors}");
            Assert.StartsWith($"error: Manifest '{missing}' not found.", errors, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AFolderItDidNotWriteIsExitTwoAndLeftAlone()
    {
        using var temp = new TempFolder();
        File.WriteAllText(Path.Combine(temp.Path, "notes.txt"), "keep me");

        var (exit, _, errors) = Invoke("k8s", "generate", "--manifest", Manifest, "--output", temp.Path);

        Assert.True(exit == 2, $"exit {exit}: {errors}");
        Assert.Contains("was not written by 'k8s generate'", errors, StringComparison.Ordinal);
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void AnOutputThatIsAFileIsExitTwoNamingItAndTheFileIsLeftAlone()
    {
        // Until 2026-12-05: .NET's IOException with a stack trace, exit 1.
        using var temp = new TempFolder();
        var file = Path.Combine(temp.Path, "k8s");
        File.WriteAllText(file, "keep me");

        foreach (var output in new[] { file, Path.Combine(file, "below") })
        {
            var (exit, _, errors) = Invoke("k8s", "generate", "--manifest", Manifest, "--output", output);

            Assert.True(exit == 2, $"exit {exit}: {errors}");
            Assert.StartsWith($"error: --output '{output}' cannot be a folder: ", Assert.Single(errors.Trim().Split('\n')), StringComparison.Ordinal);
        }

        Assert.Equal("keep me", File.ReadAllText(file));
    }

    [Fact]
    public void GoodInputIsExitZero()
    {
        var (exit, output, errors) = Invoke("k8s", "images", "--manifest", Manifest, "--registry", "ghcr.io/me", "--tag", "1.0.0");

        Assert.True(exit == 0, $"exit {exit}: {errors}");
        Assert.Contains("ghcr.io/me/filter-service:1.0.0\tghcr.io\tme/filter-service\t1.0.0\t", output, StringComparison.Ordinal);
    }

    private static (int Exit, string Output, string Errors) Invoke(params string[] args)
    {
        var root = new RootCommand("test") { KubernetesCommand.Create() };
        var output = new StringWriter();
        var errors = new StringWriter();
        var exit = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = errors });
        return (exit, output.ToString(), errors.ToString());
    }
}
