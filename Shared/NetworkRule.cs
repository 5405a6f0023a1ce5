using System.Net;
using System.Net.Sockets;

namespace SignalPipeline.Shared;

/// <summary>
/// The one rule for a trusted-proxy CIDR or address, compiled into the services (ServiceDefaults' TrustedProxiesValidator,
/// at start) and into the CLI (<c>k8s generate --known-networks</c>, before a deploy), as a linked source file: the CLI
/// must not reference ServiceDefaults (ASP.NET and OpenTelemetry in a console tool). .NET's parsers take more than an
/// operator means: <c>1.2.3</c> is 1.2.0.3, <c>010.0.0.1</c> is 8.0.0.1 (octal), <c>10.1.0.0/8</c> is 10.0.0.0/8.
/// </summary>
internal static class NetworkRule
{
    /// <summary>What is wrong with <paramref name="entry"/> as a CIDR network, or null.</summary>
    public static string? NetworkProblem(string entry)
    {
        var slash = entry.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IsExactAddress(entry[..slash]) || !IPNetwork.TryParse(entry, out var network))
        {
            return $"'{entry}' is not a CIDR network such as 10.0.0.0/8 (IPv4 as four decimal numbers, or IPv6, then /prefix length).";
        }

        if (!network.BaseAddress.Equals(IPAddress.Parse(entry[..slash])))
        {
            return $"'{entry}' has address bits set past its /{network.PrefixLength} prefix: write {network} for that network, or a longer prefix.";
        }

        return null;
    }

    /// <summary>An IP address as written: an IPv4 one only as the dotted quad it parses to (not 1.2.3, 010.0.0.1 or 0x0a.0.0.1).</summary>
    public static bool IsExactAddress(string text)
        => IPAddress.TryParse(text, out var address)
           && (address.AddressFamily != AddressFamily.InterNetwork || address.ToString() == text);
}
