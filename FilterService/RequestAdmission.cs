using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace FilterService;

/// <summary>
/// At most FilterService:MaxConcurrentRequests filter requests run at once; up to FilterService:RequestQueueLimit
/// more wait, each at most FilterService:RequestQueueTimeout, and the rest get 503 with <c>Retry-After</c>. A request
/// takes its slot before its body is read, so the slots bound memory as well as CPU. Probes are never queued.
/// </summary>
public sealed class RequestAdmission : IDisposable
{
    private readonly ConcurrencyLimiter _limiter;
    private readonly FilterServiceOptions _options;
    private readonly FilterServiceMetrics _metrics;

    public RequestAdmission(IOptions<FilterServiceOptions> options, FilterServiceMetrics metrics)
    {
        _options = options.Value;
        _metrics = metrics;
        _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = _options.MaxConcurrentRequests,
            QueueLimit = _options.RequestQueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Path.StartsWithSegments(Microsoft.Extensions.Hosting.Extensions.HealthEndpointPath)
            || context.Request.Path.StartsWithSegments(Microsoft.Extensions.Hosting.Extensions.AlivenessEndpointPath)
            || !HttpMethods.IsPost(context.Request.Method))
        {
            await next(context);
            return;
        }

        using var lease = await AcquireAsync(context.RequestAborted);
        if (lease is not { IsAcquired: true })
        {
            if (context.RequestAborted.IsCancellationRequested)
            {
                _metrics.Abandoned();
                return;
            }

            _metrics.Rejected("concurrency");
            context.Response.Headers.RetryAfter = "1";
            await Results.Problem(
                $"The service is busy: {_options.MaxConcurrentRequests} requests are running (FilterService:MaxConcurrentRequests) and "
                + $"no slot freed within {_options.RequestQueueTimeout.TotalSeconds:0.###} s (FilterService:RequestQueueTimeout, "
                + $"queue of {_options.RequestQueueLimit}, FilterService:RequestQueueLimit); retry after a second.",
                statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service busy").ExecuteAsync(context);
            return;
        }

        _metrics.Active(1);
        try
        {
            await next(context);
        }
        finally
        {
            _metrics.Active(-1);
            if (context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
            {
                _metrics.Abandoned();
            }
        }
    }

    private async Task<RateLimitLease?> AcquireAsync(CancellationToken requestAborted)
    {
        var lease = _limiter.AttemptAcquire();
        if (lease.IsAcquired || _options.RequestQueueLimit == 0 || _options.RequestQueueTimeout == TimeSpan.Zero)
        {
            return lease;
        }

        lease.Dispose();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        timeout.CancelAfter(_options.RequestQueueTimeout);
        _metrics.Queued(1);
        try
        {
            return await _limiter.AcquireAsync(1, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        finally
        {
            _metrics.Queued(-1);
        }
    }

    public void Dispose() => _limiter.Dispose();
}
