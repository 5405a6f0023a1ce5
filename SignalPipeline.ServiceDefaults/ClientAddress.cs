using System.Net;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The address a per-client limit counts against. A dual-stack socket shows an IPv4 client as <c>::ffff:a.b.c.d</c>, a
/// socket bound to IPv4 (or a trusted proxy's <c>X-Forwarded-For</c>) as <c>a.b.c.d</c>: both are the same client, so
/// every per-address limit of the gateway and the bridge keys on the IPv4 form.
/// </summary>
public static class ClientAddress
{
    /// <summary><paramref name="address"/> with an IPv4-mapped IPv6 address unmapped; <see cref="IPAddress.None"/> when unknown.</summary>
    public static IPAddress Of(IPAddress? address)
        => address is null ? IPAddress.None : address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
