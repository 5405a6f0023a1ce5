using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace FilterGateway;

/// <summary>
/// A budget of refused requests per client address: once FilterGateway:RefusalsPerAddress answers of 400-499 (other
/// than 429) went to one address within a FilterGateway:RefusalWindow, its further requests get 429 with
/// <c>Retry-After</c>, never forwarded, until the window ends. Each such 429 is held FilterGateway:RefusalDelay first
/// (at most FilterGateway:MaxHeldRefusals at once), so that a client looping on its refusals is slowed to one request
/// per delay. Why: a refused request costs what its body costs before the refusal. The 20,000-item batch of the abuse
/// bench was copied through the gateway (~300 KB), read and parsed to its 4,097th item by the service in the small
/// requests' lane, ~200 a second within the rate limit, and took about half a CPU for nothing but 413s
/// (docs/benchmarks.md, Abuse). A client that fixes its requests is served again within one window. The address is
/// the one after the trusted proxies (ForwardedHeaders:KnownNetworks). The health probes, exempt from the rate limit and
/// from this budget, have a budget of their own (FilterGateway:ProbesPerAddressPerSecond), answered the same way past it.
/// </summary>
public sealed class RefusalBudget : IDisposable
{
    private readonly FilterGatewayOptions _options;
    private readonly GatewayMetrics _metrics;
    private readonly PartitionedRateLimiter<string>? _refusals;
    private readonly PartitionedRateLimiter<string>? _probes;
    private int _held;

    /// <summary>Bodies up to this size are read (and dropped) after a 429 so that the connection can be kept.</summary>
    public const long KeepConnectionBytes = 1024 * 1024;

    /// <summary>429s being held now (for tests and diagnostics).</summary>
    public int Held => Volatile.Read(ref _held);

    public RefusalBudget(IOptions<FilterGatewayOptions> options, GatewayMetrics metrics)
    {
        _options = options.Value;
        _metrics = metrics;
        _refusals = FixedWindowPerAddress(metrics, "refusals", _options.RefusalsPerAddress, _options.RefusalWindow);
        _probes = FixedWindowPerAddress(metrics, "probes", _options.ProbesPerAddressPerSecond, TimeSpan.FromSeconds(1));
        metrics.Gauge("signalpipeline.gateway.refusals.held", "{request}",
            "429s held for FilterGateway:RefusalDelay before they are sent (at most FilterGateway:MaxHeldRefusals; more are sent at once).",
            () => Math.Min(Held, _options.MaxHeldRefusals));
    }

    /// <summary>
    /// <paramref name="permits"/> per <paramref name="window"/> for each client address, or none at 0. At most
    /// FilterGateway:MaxTrackedAddresses addresses have a budget of their own; past it, new ones share one.
    /// </summary>
    private PartitionedRateLimiter<string>? FixedWindowPerAddress(GatewayMetrics metrics, string table, int permits, TimeSpan window)
        => permits == 0 ? null : metrics.Addresses
            .Add(table, new AddressTable<string>(_options.MaxTrackedAddresses, GatewayMetrics.AddressTableOverflow))
            .CreateLimiter(_ => new FixedWindowRateLimiter(new FixedWindowRateLimiterOptions
            {
                PermitLimit = permits,
                Window = window,
                QueueLimit = 0,
                AutoReplenishment = false, // the partitioned limiter's own timer starts each window
            }));

    public async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        if (FilterGatewayExtensions.IsProbe(context.Request.Path))
        {
            if (_probes is not null)
            {
                using var probe = _probes.AttemptAcquire(FilterGatewayExtensions.ClientKey(context), 1);
                if (!probe.IsAcquired)
                {
                    await RefuseProbeAsync(context);
                    return;
                }
            }

            await next();
            return;
        }

        if (_refusals is null)
        {
            await next();
            return;
        }

        var address = FilterGatewayExtensions.ClientKey(context);
        // Zero permits only asks whether any of the window's budget is left; it takes nothing.
        using (var left = _refusals.AttemptAcquire(address, 0))
        {
            if (!left.IsAcquired)
            {
                await RefuseAsync(context);
                return;
            }
        }

        await next();

        var status = context.Response.StatusCode;
        if (status is >= 400 and < 500 and not StatusCodes.Status429TooManyRequests && !context.RequestAborted.IsCancellationRequested)
        {
            _refusals.AttemptAcquire(address, 1).Dispose();
        }
    }

    private async Task RefuseAsync(HttpContext context)
    {
        _metrics.Rejected("refusals");
        if (!await HoldAsync(context))
        {
            return;
        }

        var window = _options.RefusalWindow.TotalSeconds;
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(window)).ToString(CultureInfo.InvariantCulture);
        // A small body (or none: a GET) is left to Kestrel, which reads it to its end and keeps the connection: measured
        // cheaper than a new connection for each retry of a client that ignores Retry-After. A larger or chunked one is
        // never read: the connection closes.
        var bodyless = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false;
        if (!bodyless && context.Request.ContentLength is not <= KeepConnectionBytes)
        {
            UnreadBody.CloseAfterAnswer(context);
        }
        await TooManyRequests.Problem("Too many refused requests",
            $"Too many refused requests from this client: {_options.RefusalsPerAddress} answers 4xx within {window:0.###} s "
            + "(FilterGateway:RefusalsPerAddress, FilterGateway:RefusalWindow). Fix the requests; retry after "
            + $"{window:0.###} s.").ExecuteAsync(context);
    }

    private async Task RefuseProbeAsync(HttpContext context)
    {
        _metrics.Rejected("probes");
        if (!await HoldAsync(context))
        {
            return;
        }

        context.Response.Headers.RetryAfter = "1";
        await TooManyRequests.Problem("Too many health probes",
            $"Too many health probes from this client: more than {_options.ProbesPerAddressPerSecond} a second "
            + "(FilterGateway:ProbesPerAddressPerSecond); retry after a second.").ExecuteAsync(context);
    }

    /// <summary>Holds a refusal for RefusalDelay (at most MaxHeldRefusals at once); false when the client went away meanwhile.</summary>
    private async Task<bool> HoldAsync(HttpContext context)
    {
        // Answered at once, a client that ignores Retry-After just sends the next request: measured, the batch abuser's
        // two loops then made ~1,300 requests a second and the answers cost the gateway more than the forwarded 413s
        // had. Held for RefusalDelay (nothing read, a timer), each such loop makes one request per delay; at most
        // MaxHeldRefusals are held at once, so many parallel connections are answered at once instead of piling up.
        var delayed = _options.RefusalDelay > TimeSpan.Zero;
        try
        {
            if (delayed && Interlocked.Increment(ref _held) <= _options.MaxHeldRefusals)
            {
                await Task.Delay(_options.RefusalDelay, context.RequestAborted);
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        finally
        {
            if (delayed)
            {
                Interlocked.Decrement(ref _held);
            }
        }

        return true;
    }

    public void Dispose()
    {
        _refusals?.Dispose();
        _probes?.Dispose();
    }
}
