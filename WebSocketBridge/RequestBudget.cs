using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace WebSocketBridge;

/// <summary>
/// A token bucket of HTTP requests per client address (<c>Bridge:RequestsPerAddressPerSecond</c>, as deep as two seconds
/// of it), taken before any other work. Why: every request costs the bridge CPU (a page file, <c>/streams</c>, a probe),
/// and a client pipelining them on its connections could keep a CPU busy for nothing. Past the budget, 429 problem+json
/// with <c>Retry-After: 1</c>, held a second first (nothing read, a timer): answered at once, a client that ignores
/// Retry-After just sends the next request. Held requests are bounded by the connections that carry them
/// (<c>Bridge:MaxHttpConnectionsPerAddress</c>, <c>Bridge:MaxHttpConnections</c>). The address is the one after the
/// trusted proxies (<c>ForwardedHeaders:KnownNetworks</c>), as for every per-address limit of the bridge.
/// </summary>
public sealed class RequestBudget : IDisposable
{
    private static readonly TimeSpan HoldRefusal = TimeSpan.FromSeconds(1);

    private readonly BridgeOptions _options;
    private readonly BridgeMetrics _metrics;
    private readonly PartitionedRateLimiter<IPAddress>? _requests;

    public RequestBudget(IOptions<BridgeOptions> options, BridgeMetrics metrics, TimeProvider time)
    {
        _options = options.Value;
        _metrics = metrics;
        var rate = _options.RequestsPerAddressPerSecond;
        // At most Bridge:MaxTrackedAddresses addresses have a bucket of their own; past it, new ones share one.
        _requests = rate == 0 ? null : metrics.Addresses
            .Add("requests", new AddressTable<IPAddress>(_options.MaxTrackedAddresses, IPAddress.Broadcast))
            .CreateLimiter(_ => new TokenBucket(2 * rate, rate, TimeSpan.FromSeconds(1), time));
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (_requests is not null)
        {
            using var token = _requests.AttemptAcquire(ClientAddress.Of(context.Connection.RemoteIpAddress));
            if (!token.IsAcquired)
            {
                await RefuseAsync(context);
                return;
            }
        }

        await next(context);
    }

    private async Task RefuseAsync(HttpContext context)
    {
        _metrics.RequestRejected("rate");
        try
        {
            await Task.Delay(HoldRefusal, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        context.Response.Headers.RetryAfter = "1";
        await TooManyRequests.Problem("Too many requests",
            $"Too many requests from this address: more than {_options.RequestsPerAddressPerSecond.ToString(CultureInfo.InvariantCulture)} "
            + "a second (Bridge:RequestsPerAddressPerSecond); retry after a second.").ExecuteAsync(context);
    }

    public void Dispose() => _requests?.Dispose();
}

/// <summary>Puts <see cref="RequestBudget"/> first in the pipeline, after the forwarded headers (the trusted proxies' filter).</summary>
internal sealed class RequestBudgetStartupFilter(RequestBudget budget) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) => budget.InvokeAsync(context, nextMiddleware));
        next(app);
    };
}
