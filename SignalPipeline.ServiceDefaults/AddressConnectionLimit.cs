using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// At most <c>limit</c> open connections per remote address (a Kestrel connection middleware): a connection past it is
/// closed as soon as it is accepted, unanswered, as Kestrel closes one past <c>MaxConcurrentConnections</c>, so one
/// address cannot take every slot of the service's global connection limit. Connections from the trusted proxies
/// (<see cref="TrustedProxies"/>, the Ingress) are not counted: the proxy carries many clients and caps each of them
/// itself. A client counts by <see cref="ClientAddress.Of"/> (an IPv6 one by its /64). The table holds only addresses
/// with an open connection, so it is bounded by the global limit.
/// </summary>
public sealed class AddressConnectionLimit(int limit, TrustedProxies trusted, Action rejected)
{
    private readonly ConcurrentDictionary<IPAddress, int> _open = new();
    private readonly IReadOnlyList<IPNetwork> _networks = trusted.Networks();
    private readonly IReadOnlyList<IPAddress> _proxies = trusted.Proxies();

    /// <summary>The middleware, for <c>ListenOptions.Use</c>.</summary>
    public ConnectionDelegate Apply(ConnectionDelegate next) => async connection =>
    {
        if (connection.RemoteEndPoint is not IPEndPoint { Address: var remote })
        {
            await next(connection);
            return;
        }

        var address = remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote;
        if (IsTrusted(address))
        {
            await next(connection);
            return;
        }

        var key = ClientAddress.Of(address); // an IPv6 client by its /64, as every per-address limit
        if (!TryEnter(key))
        {
            rejected();
            return; // Kestrel closes a connection whose middleware returns
        }

        try
        {
            await next(connection);
        }
        finally
        {
            Leave(key);
        }
    };

    private bool IsTrusted(IPAddress address)
    {
        foreach (var proxy in _proxies)
        {
            if (proxy.Equals(address))
            {
                return true;
            }
        }

        foreach (var network in _networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private bool TryEnter(IPAddress address)
    {
        while (true)
        {
            if (_open.TryGetValue(address, out var open))
            {
                if (open >= limit)
                {
                    return false;
                }

                if (_open.TryUpdate(address, open + 1, open))
                {
                    return true;
                }
            }
            else if (_open.TryAdd(address, 1))
            {
                return true;
            }
        }
    }

    private void Leave(IPAddress address)
    {
        while (true)
        {
            var open = _open[address];
            if (open == 1 ? _open.TryRemove(KeyValuePair.Create(address, 1)) : _open.TryUpdate(address, open - 1, open))
            {
                return;
            }
        }
    }
}
