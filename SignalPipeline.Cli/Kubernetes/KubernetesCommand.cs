using System.CommandLine;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary><c>signal-pipeline k8s generate|images</c>: Kubernetes output from aspire-manifest.json.</summary>
public static class KubernetesCommand
{
    public static Command Create()
    {
        var manifest = new Option<string>("--manifest")
        {
            Description = "The Aspire manifest to read.",
            DefaultValueFactory = _ => "aspire-manifest.json",
        };
        var output = new Option<string>("--output")
        {
            Description = "Folder to write the kustomize tree to (replaced, except *.secrets.env files).",
            DefaultValueFactory = _ => "deploy/k8s",
        };
        var registry = new Option<string>("--registry")
        {
            Description = "Container registry (and optional path) of the project images, e.g. ghcr.io/me.",
            DefaultValueFactory = _ => KubernetesOptions.DefaultRegistry,
        };
        var tag = new Option<string>("--tag")
        {
            Description = "Tag of the project images.",
            DefaultValueFactory = _ => KubernetesOptions.DefaultTag,
        };
        var parameters = new Option<string[]>("--param")
        {
            Description = "NAME=VALUE for a non-secret manifest parameter that has no default (repeatable).",
            AllowMultipleArgumentsPerToken = false,
        };
        var partitions = new Option<int>("--partitions")
        {
            Description = "Partitions of every pipeline topic (at least the HPA's maximum replicas).",
            DefaultValueFactory = _ => new KubernetesOptions().Partitions,
        };

        var defaults = new KubernetesOptions();
        var knownNetworks = new Option<string>("--known-networks")
        {
            Description = "CIDR(s) of the ingress controller's pods, whose X-Forwarded-For the gateway and the bridge trust (ForwardedHeaders__KnownNetworks).",
            DefaultValueFactory = _ => defaults.ForwardedHeadersKnownNetworks,
        };
        var rateLimit = new Option<int>("--rate-limit")
        {
            Description = "The gateway's requests per second per client (FilterGateway__RateLimitPermitsPerSecond); 0 turns it off.",
            DefaultValueFactory = _ => defaults.RateLimitPermitsPerSecond,
        };
        var rateLimitBurst = new Option<int>("--rate-limit-burst")
        {
            Description = "The gateway's burst per client (FilterGateway__RateLimitBurst): 0 (the rate) or at least --rate-limit.",
            DefaultValueFactory = _ => defaults.RateLimitBurst,
        };
        var ingressNamespace = new Option<string>("--ingress-namespace")
        {
            Description = "Namespace of the ingress controller, the only source the NetworkPolicies admit to the gateway and the bridge.",
            DefaultValueFactory = _ => defaults.IngressNamespace,
        };

        var generate = new Command("generate", "Write deploy/k8s (kustomize, aspirate's layout) from aspire-manifest.json.")
        {
            manifest, output, registry, tag, parameters, partitions, knownNetworks, rateLimit, rateLimitBurst, ingressNamespace,
        };
        generate.SetAction(parse => Run(parse, () =>
        {
            var options = Options(parse.GetValue(registry)!, parse.GetValue(tag)!, parse.GetValue(parameters), parse.GetValue(partitions)) with
            {
                ForwardedHeadersKnownNetworks = parse.GetValue(knownNetworks)!,
                RateLimitPermitsPerSecond = parse.GetValue(rateLimit),
                RateLimitBurst = parse.GetValue(rateLimitBurst),
                IngressNamespace = parse.GetValue(ingressNamespace)!,
            };
            var generator = new KubernetesGenerator(AspireManifest.Load(parse.GetValue(manifest)!), options);
            var files = generator.Generate();
            var outputPath = parse.GetValue(output)!;
            KubernetesOutput.Write(outputPath, files);
            foreach (var warning in generator.Warnings)
            {
                parse.InvocationConfiguration.Error.WriteLine($"warning: {warning}");
            }

            parse.InvocationConfiguration.Output.WriteLine($"Wrote {files.Count} files to {outputPath} (images {options.Registry}/*:{options.Tag}).");
        }));

        var images = new Command("images", "List the project images to build, tab-separated: image, ContainerRegistry, ContainerRepository, tag, project.")
        {
            manifest, registry, tag,
        };
        images.SetAction(parse => Run(parse, () =>
        {
            var options = Options(parse.GetValue(registry)!, parse.GetValue(tag)!, [], new KubernetesOptions().Partitions);
            var generator = new KubernetesGenerator(AspireManifest.Load(parse.GetValue(manifest)!), options);
            // What dotnet publish -t:PublishContainer needs: ContainerRegistry is the host, the rest of --registry
            // goes in front of ContainerRepository.
            foreach (var image in generator.ProjectImages())
            {
                var slash = image.Registry.IndexOf('/', StringComparison.Ordinal);
                var host = slash < 0 ? image.Registry : image.Registry[..slash];
                var repository = slash < 0 ? image.Repository : $"{image.Registry[(slash + 1)..]}/{image.Repository}";
                parse.InvocationConfiguration.Output.WriteLine($"{image.Reference}\t{host}\t{repository}\t{image.Tag}\t{image.ProjectPath}");
            }
        }));

        return new Command("k8s", "Kubernetes deployment from the AppHost's manifest.") { generate, images };
    }

    private static KubernetesOptions Options(string registry, string tag, string[]? parameters, int partitions)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var parameter in parameters ?? [])
        {
            var split = parameter.IndexOf('=', StringComparison.Ordinal);
            if (split <= 0)
            {
                throw new ManifestException($"--param '{parameter}' must be NAME=VALUE.");
            }

            values[parameter[..split]] = parameter[(split + 1)..];
        }

        return new KubernetesOptions { Registry = registry, Tag = tag, Parameters = values, Partitions = partitions };
    }

    /// <summary>Exit 0, or 2 for bad input (a missing or malformed manifest, a bad option, a folder it must not
    /// overwrite), named on stderr: the exit codes of every <c>signal-pipeline</c> verb (docs/operations.md).</summary>
    private static int Run(ParseResult parse, Action action)
    {
        try
        {
            action();
            return 0;
        }
        catch (ManifestException ex)
        {
            parse.InvocationConfiguration.Error.WriteLine($"error: {ex.Message}");
            return 2;
        }
    }
}
