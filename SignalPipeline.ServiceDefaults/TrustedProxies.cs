using System.Net;
using IPNetwork = System.Net.IPNetwork;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SignalPipeline.Shared;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Which proxies may set <c>X-Forwarded-For</c> / <c>X-Forwarded-Proto</c> (configuration section <c>ForwardedHeaders</c>,
/// environment <c>ForwardedHeaders__KnownNetworks</c>): comma-separated CIDRs and IP addresses, typically the Ingress
/// controller's pod network. With neither set no forwarded header is read at all, so a client cannot choose the
/// address the gateway's per-client rate limit and the bridge's per-address limit see. <c>ASPNETCORE_FORWARDEDHEADERS_ENABLED=true</c> (which Aspire
/// sets, and which alone would trust everyone) is overridden by these lists.
/// </summary>
public sealed class TrustedProxies
{
    public const string SectionName = "ForwardedHeaders";

    /// <summary><c>ForwardedHeaders:KnownNetworks</c>, e.g. <c>10.0.0.0/8,fd00::/8</c>.</summary>
    public string? KnownNetworks { get; set; }

    /// <summary><c>ForwardedHeaders:KnownProxies</c>, e.g. <c>10.0.0.7</c>.</summary>
    public string? KnownProxies { get; set; }

    public IReadOnlyList<IPNetwork> Networks() => Split(KnownNetworks).Select(IPNetwork.Parse).ToList();

    public IReadOnlyList<IPAddress> Proxies() => Split(KnownProxies).Select(IPAddress.Parse).ToList();

    public static IEnumerable<string> Split(string? list)
        => (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Applies the lists to ASP.NET's options, after its own <c>ForwardedHeaders_Enabled</c> setup cleared them.</summary>
    public void ApplyTo(ForwardedHeadersOptions options)
    {
        options.KnownIPNetworks.Clear();
        options.KnownProxies.Clear();
        var networks = Networks();
        var proxies = Proxies();
        // Both lists empty would mean "trust anyone" to the middleware: with no proxy configured, no header is read.
        options.ForwardedHeaders = networks.Count == 0 && proxies.Count == 0
            ? ForwardedHeaders.None
            : ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;

        foreach (var network in networks)
        {
            options.KnownIPNetworks.Add(network);
        }

        foreach (var proxy in proxies)
        {
            options.KnownProxies.Add(proxy);
        }
    }
}

/// <summary>
/// Stops the service at start when a list holds something that is not a CIDR / an IP address, naming it (the rule is
/// <see cref="NetworkRule"/>, shared with the CLI): an IPv4 address must be written as the dotted quad it parses to, and a
/// network's address must have no bits set past its prefix. Trusting a proxy other than the one meant lets whoever is
/// there choose client addresses.
/// </summary>
public sealed class TrustedProxiesValidator : IValidateOptions<TrustedProxies>
{
    public ValidateOptionsResult Validate(string? name, TrustedProxies options)
    {
        var failures = new List<string>();
        failures.AddRange(TrustedProxies.Split(options.KnownNetworks).Select(NetworkRule.NetworkProblem).OfType<string>()
            .Select(problem => $"ForwardedHeaders:KnownNetworks: {problem}"));
        failures.AddRange(TrustedProxies.Split(options.KnownProxies).Where(p => !NetworkRule.IsExactAddress(p))
            .Select(p => $"ForwardedHeaders:KnownProxies: '{p}' is not an IP address (IPv4 as four decimal numbers such as 10.0.0.7, or IPv6)."));
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Puts the forwarded-headers middleware first, unless ASP.NET's own ForwardedHeaders_Enabled filter already does.</summary>
internal sealed class TrustedProxiesStartupFilter(Microsoft.Extensions.Configuration.IConfiguration configuration) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        if (!string.Equals(configuration["ForwardedHeaders_Enabled"], "true", StringComparison.OrdinalIgnoreCase))
        {
            app.UseForwardedHeaders();
        }

        next(app);
    };
}
