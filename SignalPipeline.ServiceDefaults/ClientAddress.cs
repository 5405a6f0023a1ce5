using System.Net;
using System.Net.Sockets;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The address a per-client limit counts against. A dual-stack socket shows an IPv4 client as <c>::ffff:a.b.c.d</c>, a
/// socket bound to IPv4 (or a trusted proxy's <c>X-Forwarded-For</c>) as <c>a.b.c.d</c>: both are the same client, so
/// every per-address limit of the gateway and the bridge keys on the IPv4 form. An IPv6 client counts by its /64: a host
/// is given a whole /64 and may pick any address in it (privacy addresses change by themselves), so a full address
/// would let one client be as many clients as it likes.
/// </summary>
public static class ClientAddress
{
    /// <summary>
    /// <paramref name="address"/> with an IPv4-mapped IPv6 address unmapped and an IPv6 one cut to its /64 prefix;
    /// <see cref="IPAddress.None"/> when unknown.
    /// </summary>
    public static IPAddress Of(IPAddress? address)
    {
        if (address is null)
        {
            return IPAddress.None;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }
}
