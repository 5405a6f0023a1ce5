using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace FilterGateway;

/// <summary>
/// The gateway's lane for large bodies: a request declaring a body over FilterGateway:LargeRequestBytes (or one of undeclared
/// length: chunked, or HTTP/2 without Content-Length) takes one of FilterGateway:MaxConcurrentLargeRequests slots before any of its body is read; up to
/// FilterGateway:LargeRequestQueueLimit more wait, each at most FilterGateway:LargeRequestQueueTimeout, and the rest get
/// 503 with <c>Retry-After</c> and the connection closed. Without it every 16 MiB upload was forwarded to a service
/// that refuses all but one at a time, and each body the service refused was still read whole by the gateway (Kestrel
/// reads a body to its end once forwarding began; measured in docs/benchmarks.md, Abuse): refused here, before any of
/// it is read, a body costs the gateway nothing. One client address may have at most
/// FilterGateway:MaxLargeRequestsPerAddress of them forwarded or waiting; one more gets 429, its body unread.
/// </summary>
public sealed class LargeRequestAdmission : IDisposable
{
    private readonly FilterGatewayOptions _options;
    private readonly GatewayMetrics _metrics;
    private readonly ConcurrencyLimiter? _limiter;

    // Large requests forwarded or waiting, per client address: an entry only while its count is above 0, so the table
    // holds at most as many addresses as large requests are in the lane.
    private readonly Dictionary<string, int> _perAddress = [];

    public LargeRequestAdmission(IOptions<FilterGatewayOptions> options, GatewayMetrics metrics)
    {
        _options = options.Value;
        _metrics = metrics;
        _limiter = _options.MaxConcurrentLargeRequests == 0 ? null : new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = _options.MaxConcurrentLargeRequests,
            QueueLimit = _options.LargeRequestQueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
        metrics.Gauge("signalpipeline.gateway.large_requests.active", "{request}",
            "Large requests holding a slot of the lane (FilterGateway:MaxConcurrentLargeRequests).",
            () => _limiter is null ? 0 : _options.MaxConcurrentLargeRequests - (_limiter.GetStatistics()?.CurrentAvailablePermits ?? _options.MaxConcurrentLargeRequests));
        metrics.Gauge("signalpipeline.gateway.large_requests.queued", "{request}",
            "Large requests waiting for a slot (at most FilterGateway:LargeRequestQueueLimit).",
            () => _limiter?.GetStatistics()?.CurrentQueuedCount ?? 0);
    }

    public async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        // A body of undeclared length may be up to the body limit: large. Kestrel knows before reading whether there is
        // one (CanHaveBody): a chunked body, or an HTTP/2 one without Content-Length, which has no Transfer-Encoding.
        var length = context.Request.ContentLength;
        var large = length > _options.LargeRequestBytes
            || (length is null && context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true);
        if (_limiter is null || !large)
        {
            await next();
            return;
        }

        var client = FilterGatewayExtensions.ClientKey(context);
        if (!TryEnter(client))
        {
            _metrics.Rejected("large_requests_per_address");
            context.Response.Headers.RetryAfter = "1";
            UnreadBody.CloseAfterAnswer(context);
            await TooManyRequests.Problem("Too many large requests",
                $"This client already has {_options.MaxLargeRequestsPerAddress} request(s) with a body over {_options.LargeRequestBytes} bytes "
                + "forwarded or waiting (FilterGateway:MaxLargeRequestsPerAddress); send the next when one has been answered.")
                .ExecuteAsync(context);
            return;
        }

        try
        {
            await AdmitAsync(context, next);
        }
        finally
        {
            Leave(client);
        }
    }

    private bool TryEnter(string client)
    {
        lock (_perAddress)
        {
            var count = _perAddress.GetValueOrDefault(client);
            if (count >= _options.MaxLargeRequestsPerAddress)
            {
                return false;
            }

            _perAddress[client] = count + 1;
            return true;
        }
    }

    private void Leave(string client)
    {
        lock (_perAddress)
        {
            if (_perAddress[client] == 1)
            {
                _perAddress.Remove(client);
            }
            else
            {
                _perAddress[client]--;
            }
        }
    }

    private async Task AdmitAsync(HttpContext context, Func<Task> next)
    {
        using var lease = await _limiter!.AcquireWithinAsync(_options.LargeRequestQueueLimit > 0, _options.LargeRequestQueueTimeout, context.RequestAborted);
        if (lease is { IsAcquired: true })
        {
            await next();
            return;
        }

        if (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        _metrics.Rejected("large_requests");
        context.Response.Headers.RetryAfter = "1";
        // The body was never read: close instead of reading it to its end to keep the connection.
        UnreadBody.CloseAfterAnswer(context);
        await Results.Problem(
            $"The gateway is busy with large requests: all {_options.MaxConcurrentLargeRequests} slots for bodies over "
            + $"{_options.LargeRequestBytes} bytes are taken (FilterGateway:MaxConcurrentLargeRequests) and "
            + QueuedAdmission.NoSlotReason(lease, _options.LargeRequestQueueTimeout, "FilterGateway:LargeRequestQueueTimeout",
                _options.LargeRequestQueueLimit, "FilterGateway:LargeRequestQueueLimit") + "; retry after a second.",
            statusCode: StatusCodes.Status503ServiceUnavailable, title: "Gateway busy").ExecuteAsync(context);
    }

    public void Dispose() => _limiter?.Dispose();
}
