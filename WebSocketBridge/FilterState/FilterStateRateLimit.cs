using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace WebSocketBridge.FilterState;

/// <summary>
/// A token bucket per remote address for <c>GET /streams/{id}/filter</c>: the cache bounds what the processor pays, this
/// bounds what one address can take of the cache's room and calls, so a script asking for many stream ids cannot
/// leave the pages of everyone else with 503s. As <c>Bridge:ConnectsPerAddressPerMinute</c> does for upgrades.
/// </summary>
public sealed class FilterStateRateLimit(IOptions<FilterStateOptions> options, IOptions<BridgeOptions> bridge, BridgeMetrics metrics, TimeProvider time) : IDisposable
{
    // At most Bridge:MaxTrackedAddresses addresses have a bucket of their own; past it, new ones share one.
    private readonly PartitionedRateLimiter<IPAddress> _requests = metrics.Addresses
        .Add("filter_state", new AddressTable<IPAddress>(bridge.Value.MaxTrackedAddresses, IPAddress.Broadcast))
        .CreateLimiter(_ => new TokenBucket(Math.Max(1, options.Value.FilterStateRequestsPerAddressPerMinute / 6), 1,
            TimeSpan.FromMinutes(1) / options.Value.FilterStateRequestsPerAddressPerMinute, time));

    /// <summary>Seconds until the address has a token again (the refill interval, at least 1).</summary>
    public int RetryAfterSeconds => Math.Max(1, (int)Math.Ceiling(60.0 / options.Value.FilterStateRequestsPerAddressPerMinute));

    public bool TryTake(IPAddress? address)
    {
        using var token = _requests.AttemptAcquire(ClientAddress.Of(address));
        return token.IsAcquired;
    }

    public void Dispose() => _requests.Dispose();
}
