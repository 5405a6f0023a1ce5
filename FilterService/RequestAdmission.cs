using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Options;

namespace FilterService;

/// <summary>
/// Admission in two lanes, so that cheap requests never queue behind expensive ones: a request declaring a body of at
/// most FilterService:SmallRequestBytes, or without a body, takes one of FilterService:MaxConcurrentSmallRequests
/// slots, any other (a larger or chunked body) one of FilterService:MaxConcurrentRequests. In each lane up to
/// FilterService:RequestQueueLimit more wait, each at most FilterService:RequestQueueTimeout, and the rest get 503 with
/// <c>Retry-After</c>. A large request takes its slot before its body is read, so its slots bound memory as well as CPU;
/// from then on its body must arrive at FilterService:LargeBodyMinBytesPerSecond, or 408, so a slow upload frees the slot.
/// A small one reads its body first (at most FilterService:RequestTimeout, then 408), within the budget of
/// FilterService:MaxWaitingBodyBytes for the bodies of all requests without a slot: a slow upload holds no slot, so two
/// clients sending slowly cannot shut every other small request out. Probes are never queued. Large requests run on
/// <see cref="BackgroundPriorityScheduler"/>'s threads (FilterService:LargeRequestNice), small ones on the thread pool.
/// </summary>
public sealed class RequestAdmission : IDisposable
{
    private readonly Lane _small;
    private readonly Lane _large;
    private readonly FilterServiceOptions _options;
    private readonly FilterServiceMetrics _metrics;
    private readonly BackgroundPriorityScheduler? _background;
    private readonly BodyBudget _waitingBodies;
    private readonly LargeBodyRate? _largeBodyRate;

    public RequestAdmission(IOptions<FilterServiceOptions> options, FilterServiceMetrics metrics)
    {
        _options = options.Value;
        _metrics = metrics;
        _background = _options.LargeRequestNice > 0 ? new BackgroundPriorityScheduler(_options.MaxConcurrentRequests, _options.LargeRequestNice) : null;
        _small = new Lane("FilterService:MaxConcurrentSmallRequests", _options.MaxConcurrentSmallRequests, _options, delta => metrics.Queued(large: false, delta));
        _large = new Lane("FilterService:MaxConcurrentRequests", _options.MaxConcurrentRequests, _options, delta => metrics.Queued(large: true, delta));
        _waitingBodies = new BodyBudget(_options.MaxWaitingBodyBytes);
        _largeBodyRate = _options.LargeBodyMinBytesPerSecond > 0
            ? new LargeBodyRate(new MinDataRate(_options.LargeBodyMinBytesPerSecond, _options.LargeBodyMinRateGracePeriod), _options)
            : null;
        metrics.ObserveWaitingBodyBytes(() => WaitingBodyBytes);
    }

    /// <summary>Bytes the bodies read ahead of their slot take now.</summary>
    public long WaitingBodyBytes => _waitingBodies.Taken;

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Path.StartsWithSegments(Microsoft.Extensions.Hosting.Extensions.HealthEndpointPath)
            || context.Request.Path.StartsWithSegments(Microsoft.Extensions.Hosting.Extensions.AlivenessEndpointPath)
            || !HttpMethods.IsPost(context.Request.Method))
        {
            await next(context);
            return;
        }

        // A chunked body (no Content-Length) may be up to the body limit: it goes to the lane of large requests. One with
        // neither Content-Length nor Transfer-Encoding has no body, which Kestrel knows before reading (CanHaveBody): a
        // small one. Asking Kestrel rather than the headers keeps an HTTP/2 body without Content-Length large.
        var hasBody = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;
        var lane = !hasBody || context.Request.ContentLength <= _options.SmallRequestBytes ? _small : _large;
        RequestBody? body = null;
        if (lane == _small && hasBody && context.Request.ContentLength <= _options.MaxRequestBodyBytes)
        {
            (body, var answered) = await ReadAheadAsync(context);
            if (answered)
            {
                return;
            }
        }

        using var lease = await lane.Limiter.AcquireWithinAsync(_options.RequestQueueLimit > 0, _options.RequestQueueTimeout, context.RequestAborted, lane.Queued);
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
                $"The service is busy: all {lane.Slots} slots for requests of this size are taken ({lane.Setting}) and "
                + QueuedAdmission.NoSlotReason(lease, _options.RequestQueueTimeout, "FilterService:RequestQueueTimeout",
                    _options.RequestQueueLimit, "FilterService:RequestQueueLimit") + "; retry after a second.",
                statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service busy").ExecuteAsync(context);
            return;
        }

        if (body is not null)
        {
            body.ReleaseBudget();
            context.Features.Set(body);
        }

        if (lane == _large && _largeBodyRate is not null && (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
            && context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            // The slot is taken before the body is read: from here a slow upload would hold it for every other large
            // request, so its body must keep up (Kestrel answers the read with 408, RequestBody names the setting).
            rate.MinDataRate = _largeBodyRate.Rate;
            context.Features.Set(_largeBodyRate);
        }

        _metrics.Active(lane == _large, 1);
        var connectionBroke = false;
        try
        {
            if (lane == _large && _background is not null)
            {
                // The rest of the pipeline, with every continuation of its awaits, on the low-priority threads.
                await Task.Factory.StartNew(() => next(context), CancellationToken.None, TaskCreationOptions.DenyChildAttach, _background).Unwrap();
            }
            else
            {
                await next(context);
            }
        }
        catch (IOException)
        {
            // The connection broke under the request (a reset in the middle of the body): its client is gone, though
            // Kestrel may not have set RequestAborted yet when the body read fails. Ended here, as the read-ahead ends a
            // small body's: rethrown, the exception handler took it for the service's fault when RequestAborted was not
            // set yet (an error logged as an unhandled exception, a 500 for nobody), every run with the large lane on
            // the thread pool (FilterServiceMetricsTests.A_large_request_whose_client_resets_in_the_middle_of_its_body...).
            connectionBroke = true;
            context.Abort();
        }
        finally
        {
            _metrics.Active(lane == _large, -1);
            if ((context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted) || connectionBroke)
            {
                _metrics.Abandoned();
            }
        }
    }

    /// <summary>
    /// Reads a small request's body ahead of its slot, or answers the request itself when that fails. The body is
    /// disposed with the response unless the endpoint takes it first (<see cref="RequestBody.TakeAsync"/>).
    /// </summary>
    private async Task<(RequestBody? Body, bool Answered)> ReadAheadAsync(HttpContext context)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(_options.RequestTimeout);
        FilterRequestException refusal;
        try
        {
            var body = await RequestBody.ReadAsync(context.Request, _options.MaxRequestBodyBytes, deadline.Token, _waitingBodies);
            context.Response.RegisterForDispose(body);
            return (body, false);
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            refusal = RequestBody.BodyTooSlow(
                $"The request body did not arrive within {_options.RequestTimeout.TotalSeconds:0.###} s (FilterService:RequestTimeout): "
                + $"{context.Request.ContentLength} bytes declared.");
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client left in the middle of its body.
            _metrics.Abandoned();
            return (null, true);
        }
        catch (FilterRequestException ex)
        {
            refusal = ex;
        }
        catch (BodyBudgetExhaustedException ex)
        {
            _metrics.Rejected("waiting_body_bytes");
            context.Response.Headers.RetryAfter = "1";
            await Results.Problem(ex.Message, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service busy").ExecuteAsync(context);
            return (null, true);
        }

        await FilterEndpoints.ProblemAsync(context, _metrics, refusal);
        return (null, true);
    }

    public void Dispose()
    {
        _background?.Dispose();
        _small.Limiter.Dispose();
        _large.Limiter.Dispose();
    }

    private sealed class Lane(string setting, int slots, FilterServiceOptions options, Action<int> queued)
    {
        public string Setting { get; } = setting;

        /// <summary>The lane's <c>requests.queued</c> gauge, moved by the requests waiting for its slots.</summary>
        public Action<int> Queued { get; } = queued;

        public int Slots { get; } = slots;

        public ConcurrencyLimiter Limiter { get; } = new(new ConcurrencyLimiterOptions
        {
            PermitLimit = slots,
            QueueLimit = options.RequestQueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }
}

/// <summary>
/// The minimum data rate a large request's body is held to once it has its slot (FilterService:LargeBodyMinBytesPerSecond),
/// set as a request feature so that <see cref="RequestBody"/> names the setting in its 408.
/// </summary>
public sealed class LargeBodyRate(MinDataRate rate, FilterServiceOptions options)
{
    public MinDataRate Rate { get; } = rate;

    public string Refusal(long? declared)
        => $"The request body arrived at less than {options.LargeBodyMinBytesPerSecond} bytes/s, the least for a request holding a "
            + $"large-request slot (FilterService:LargeBodyMinBytesPerSecond, after {options.LargeBodyMinRateGracePeriod.TotalSeconds:0.###} s, "
            + $"FilterService:LargeBodyMinRateGracePeriod): {declared?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "an undeclared number of"} bytes declared.";
}
