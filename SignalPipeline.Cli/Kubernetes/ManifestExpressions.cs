using System.Text;

namespace SignalPipeline.Cli.Kubernetes;

/// <summary>
/// Resolves the manifest's expressions (<c>{kafka.bindings.tcp.host}</c>, <c>{kafka.connectionString}</c>,
/// <c>{filter-kalman.bindings.http.url}</c>, <c>{param.value}</c>) to what they are inside the cluster, the way
/// aspirate does: a binding's host is the resource's Service name, its port the Service port, and an http URL is
/// <c>http://name:port</c>. https bindings have no in-cluster equivalent (TLS ends at the Ingress), so a value that
/// uses one is dropped. With a <paramref name="serviceDomain"/> (<c>signal-processing.svc</c>) a host is
/// <c>name.signal-processing.svc</c>, which resolves from every namespace.
/// </summary>
public sealed class ManifestExpressions(AspireManifest manifest, IReadOnlyDictionary<string, string> parameterValues, string? serviceDomain = null)
{
    private const int FirstCustomPort = 10000;

    /// <summary>The in-cluster value of a manifest string.</summary>
    public ResolvedValue Resolve(string text) => Resolve(text, depth: 0);

    /// <summary>The same resolver with hosts qualified by <paramref name="domain"/> (<c>namespace.svc</c>).</summary>
    public ManifestExpressions WithServiceDomain(string domain) => new(manifest, parameterValues, domain);

    /// <summary>Container port of a binding: its targetPort, else 8080 for http as the .NET images listen there.</summary>
    public int TargetPort(ManifestResource resource, ManifestBinding binding)
    {
        if (binding.TargetPort is { } target)
        {
            return target;
        }

        if (binding.Scheme == "http")
        {
            return 8080;
        }

        if (binding.Scheme == "https")
        {
            return 8443;
        }

        // Deterministic ports for other bindings without a target port, in manifest order (as aspirate).
        var unset = resource.Bindings.Where(b => b.TargetPort is null && b.Scheme is not ("http" or "https")).ToList();
        return FirstCustomPort + unset.IndexOf(binding);
    }

    /// <summary>Service port of a binding: its port, else its target port.</summary>
    public int ServicePort(ManifestResource resource, ManifestBinding binding) => binding.Port ?? TargetPort(resource, binding);

    private ResolvedValue Resolve(string text, int depth)
    {
        if (depth > 10)
        {
            throw new ManifestException($"Expression nesting too deep (a cycle?) while resolving '{text}'.");
        }

        var result = new StringBuilder();
        var secret = false;
        var dropped = false;
        var references = new SortedSet<string>(StringComparer.Ordinal);

        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '{' && i + 1 < text.Length && text[i + 1] == '{')
            {
                result.Append('{');
                i++;
                continue;
            }

            if (c == '}' && i + 1 < text.Length && text[i + 1] == '}')
            {
                result.Append('}');
                i++;
                continue;
            }

            if (c != '{')
            {
                result.Append(c);
                continue;
            }

            var end = text.IndexOf('}', i + 1);
            if (end < 0)
            {
                throw new ManifestException($"Unclosed '{{' in manifest value '{text}'.");
            }

            var part = ResolveExpression(text[(i + 1)..end], depth);
            result.Append(part.Value);
            secret |= part.IsSecret;
            dropped |= part.IsDropped;
            references.UnionWith(part.References);
            i = end;
        }

        return new ResolvedValue(result.ToString(), secret, dropped, references);
    }

    private ResolvedValue ResolveExpression(string expression, int depth)
    {
        var parts = expression.Split('.');
        if (!manifest.Resources.TryGetValue(parts[0], out var resource))
        {
            throw new ManifestException($"Expression '{{{expression}}}' names unknown resource '{parts[0]}'.");
        }

        switch (parts)
        {
            case [_, "bindings", var bindingName, var property]:
                return ResolveBinding(resource, bindingName, property, expression);

            case [_, "connectionString"]:
                var connectionString = resource.ConnectionString
                    ?? throw new ManifestException($"Expression '{{{expression}}}': resource '{resource.Name}' has no connectionString.");
                return Resolve(connectionString, depth + 1);

            case [_, "value"]:
                var value = resource.Value
                    ?? throw new ManifestException($"Expression '{{{expression}}}': resource '{resource.Name}' has no value.");
                return Resolve(value, depth + 1);

            case [_, "inputs", var inputName]:
                return ResolveInput(resource, inputName, expression);

            default:
                throw new ManifestException(
                    $"Expression '{{{expression}}}' is not supported for Kubernetes (only bindings, connectionString, value and inputs are).");
        }
    }

    private ResolvedValue ResolveBinding(ManifestResource resource, string bindingName, string property, string expression)
    {
        var binding = resource.Bindings.FirstOrDefault(b => b.Name == bindingName)
            ?? throw new ManifestException($"Expression '{{{expression}}}': resource '{resource.Name}' has no binding '{bindingName}'.");
        var references = new SortedSet<string>(StringComparer.Ordinal) { resource.Name };

        if (binding.IsHttps)
        {
            return new ResolvedValue("", IsSecret: false, IsDropped: true, references);
        }

        var port = ServicePort(resource, binding).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var host = serviceDomain is null ? resource.Name : $"{resource.Name}.{serviceDomain}";
        var value = property switch
        {
            "host" => host,
            "port" => port,
            "targetPort" => TargetPort(resource, binding).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "hostAndPort" => $"{host}:{port}",
            "scheme" => binding.Scheme,
            "url" => $"{binding.Scheme}://{host}:{port}",
            _ => throw new ManifestException($"Expression '{{{expression}}}': unknown binding property '{property}'."),
        };
        return new ResolvedValue(value, IsSecret: false, IsDropped: false, references);
    }

    private ResolvedValue ResolveInput(ManifestResource resource, string inputName, string expression)
    {
        var input = resource.Inputs.GetValueOrDefault(inputName)
            ?? throw new ManifestException($"Expression '{{{expression}}}': parameter '{resource.Name}' has no input '{inputName}'.");
        var none = new SortedSet<string>(StringComparer.Ordinal);

        if (input.IsSecret)
        {
            return new ResolvedValue("", IsSecret: true, IsDropped: false, none);
        }

        if (parameterValues.TryGetValue(resource.Name, out var given))
        {
            return new ResolvedValue(given, IsSecret: false, IsDropped: false, none);
        }

        if (input.Default is { } defaultValue)
        {
            return new ResolvedValue(defaultValue, IsSecret: false, IsDropped: false, none);
        }

        throw new ManifestException(
            $"Parameter '{resource.Name}' has no default value in the manifest. Pass --param {resource.Name}=VALUE, " +
            "or publish its default from the AppHost (AddParameter(name, value, publishValueAsDefault: true)).");
    }
}

/// <summary>
/// A resolved manifest value. <see cref="IsSecret"/>: it uses a secret parameter, so it must come from a Secret.
/// <see cref="IsDropped"/>: it uses an https binding, which does not exist in the cluster. <see cref="References"/>:
/// the resources whose bindings it uses (for NetworkPolicies).
/// </summary>
public sealed record ResolvedValue(string Value, bool IsSecret, bool IsDropped, IReadOnlySet<string> References);
