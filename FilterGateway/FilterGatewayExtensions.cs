using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using OpenTelemetry.Trace;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;

namespace FilterGateway;

/// <summary>Builds the gateway; Program.cs and in-process hosts (tests, benchmarks) share it.</summary>
public static class FilterGatewayExtensions
{
    public static WebApplicationBuilder AddFilterGateway(this WebApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        // YARP's forwarding span sits between the gateway's server span and its outgoing call: the client's trace
        // continues through the gateway into the service (YARP replaces the incoming traceparent with its own).
        builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddSource("Yarp.ReverseProxy"));
        builder.Services.AddProblemDetails();

        builder.Services.AddSingleton<IValidateOptions<ServiceUrlOptions>, ServiceUrlOptionsValidator>();
        builder.Services.AddOptions<ServiceUrlOptions>().Configure<IConfiguration>(ServiceUrlOptions.Bind).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<FilterGatewayOptions>, FilterGatewayOptionsValidator>();
        builder.Services.AddOptions<FilterGatewayOptions>().BindConfiguration(FilterGatewayOptions.SectionName).ValidateOnStart();

        // Bodies of up to 16 MiB pass through: fewer, larger receives (docs/filter-api.md, "Limits").
        builder.Services.AddLargeKestrelBlocks();
        builder.Services.AddKestrelReadAhead<FilterGatewayOptions>(options => options.MaxReadAheadBytes);
        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<FilterGatewayOptions>, IOptions<TrustedProxies>, GatewayMetrics>((kestrel, options, trusted, metrics) =>
            {
                kestrel.Limits.MaxRequestBodySize = options.Value.MaxRequestBodyBytes;
                kestrel.Limits.MaxConcurrentConnections = options.Value.MaxConnections;
                var perAddress = new AddressConnectionLimit(options.Value.MaxConnectionsPerAddress, trusted.Value, () => metrics.ConnectionRejected("address_limit"));
                kestrel.ConfigureEndpointDefaults(listen => listen.Use(perAddress.Apply));
                // Binary requests carry the filter state in the X-Filter-State header (up to ~45 KB for rls(64)).
                kestrel.Limits.MaxRequestHeadersTotalSize = options.Value.MaxRequestHeadersBytes;
            });

        builder.Services.AddSingleton<IProxyConfigProvider, FilterProxyConfigProvider>();
        builder.Services.AddReverseProxy().AddServiceDiscoveryDestinationResolver();
        builder.Services.AddSingleton<IForwarderHttpClientFactory, RetryingForwarderHttpClientFactory>();
        builder.Services.AddSingleton<IActiveHealthCheckPolicy, ReachableHealthPolicy>();
        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddSingleton<LargeRequestAdmission>();
        builder.Services.AddSingleton<RefusalBudget>();
        builder.Services.AddSingleton<RequestBodyDeadline>();
        builder.Services.AddSingleton<ForwardingFailure>();
        // The rate limit's table: at most FilterGateway:MaxTrackedAddresses addresses have a bucket of their own. Made at
        // start, not on the first request, so .addresses.tracked{table=rate_limit} is reported from the start.
        builder.Services.AddActivatedSingleton(services => services.GetRequiredService<GatewayMetrics>().Addresses.Add("rate_limit",
            new AddressTable<string>(services.GetRequiredService<IOptions<FilterGatewayOptions>>().Value.MaxTrackedAddresses, GatewayMetrics.AddressTableOverflow)));

        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                var options = context.RequestServices.GetRequiredService<IOptions<FilterGatewayOptions>>().Value;
                if (options.RateLimitPermitsPerSecond == 0 || IsProbe(context.Request.Path))
                {
                    return RateLimitPartition.GetNoLimiter(string.Empty);
                }

                var burst = options.RateLimitBurst > 0 ? options.RateLimitBurst : options.RateLimitPermitsPerSecond;
                return context.RequestServices.GetRequiredService<AddressTable<string>>().Partition(ClientKey(context),
                    // Not .NET's TokenBucketRateLimiter: refilled by the partitioned limiter's timer, it credited the time
                    // a bucket spent full once it was emptied, up to twice the burst (TokenBucket's remarks).
                    _ => new TokenBucket(burst, options.RateLimitPermitsPerSecond, TimeSpan.FromSeconds(1), TimeProvider.System));
            });
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                rejected.HttpContext.RequestServices.GetRequiredService<GatewayMetrics>().Rejected("rate_limit");
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                await TooManyRequests.Problem("Rate limit exceeded",
                    "Too many requests from this client (FilterGateway:RateLimitPermitsPerSecond); retry after a second.").ExecuteAsync(rejected.HttpContext);
            };
        });
        return builder;
    }

    public static WebApplication MapFilterGateway(this WebApplication app)
    {
        // Anything unhandled still answers problem+json (YARP's 502/504 get their detail from ForwardingFailure).
        app.UseExceptionHandler();
        // Before the rate limiter and the status pages: an address past its budget of refusals costs the least
        // (no body read, no rate-limit token), and the status counted is the final one.
        var refusals = app.Services.GetRequiredService<RefusalBudget>();
        app.Use(refusals.InvokeAsync);
        app.UseProblemStatusPages();
        app.UseRateLimiter();
        app.MapDefaultEndpoints();
        app.MapReverseProxy(proxy =>
        {
            // First, so it sees the status every later step left: only YARP's own 502/504 for a failing service are described.
            proxy.Use(app.Services.GetRequiredService<ForwardingFailure>().InvokeAsync);
            proxy.Use(RejectOversizedBodiesAsync);
            proxy.Use(RejectWithoutHealthyDestinationAsync);
            var largeRequests = app.Services.GetRequiredService<LargeRequestAdmission>();
            proxy.Use(largeRequests.InvokeAsync);
            // Last: the body's deadline runs from the start of its forwarding, not while it waits for a large-request slot.
            proxy.Use(app.Services.GetRequiredService<RequestBodyDeadline>().InvokeAsync);
        });
        return app;
    }

    /// <summary>
    /// Answers 503 with <c>Retry-After</c> at once when every destination of the algorithm failed its last probe
    /// (<see cref="ReachableHealthPolicy"/>); the probes go on, and traffic resumes by itself when one answers again.
    /// </summary>
    private static async Task RejectWithoutHealthyDestinationAsync(HttpContext context, Func<Task> next)
    {
        var proxy = context.GetReverseProxyFeature();
        if (proxy.AvailableDestinations.Count > 0)
        {
            await next();
            return;
        }

        var services = context.RequestServices;
        services.GetRequiredService<GatewayMetrics>().Rejected("no_healthy_destination");
        var interval = services.GetRequiredService<IOptions<FilterGatewayOptions>>().Value.HealthCheckInterval;
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(interval.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await Results.Problem(
            $"No healthy instance of the '{proxy.Route.Config.ClusterId}' service: its health probe failed (checked every "
            + $"{interval.TotalSeconds:0.###} s, FilterGateway:HealthCheckInterval). Retry later.",
            statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service unavailable").ExecuteAsync(context);
    }

    /// <summary>Answers 413 for a body over FilterGateway:MaxRequestBodyBytes, declared or discovered while forwarding.</summary>
    private static async Task RejectOversizedBodiesAsync(HttpContext context, Func<Task> next)
    {
        var limit = context.RequestServices.GetRequiredService<IOptions<FilterGatewayOptions>>().Value.MaxRequestBodyBytes;
        if (context.Request.ContentLength > limit)
        {
            // Read a moderately oversized body to its end first: answering and closing while the client is still
            // sending makes its TCP stack see a reset, and it may lose the 413.
            if (context.Request.ContentLength <= limit + DrainBytes
                && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeLimit)
            {
                sizeLimit.MaxRequestBodySize = limit + DrainBytes;
                await context.Request.DrainAsync(context.RequestAborted);
            }

            context.RequestServices.GetRequiredService<GatewayMetrics>().Rejected("body_bytes");
            await TooLarge(limit).ExecuteAsync(context);
            return;
        }

        await next();

        // Kestrel stops a chunked body at the limit while YARP forwards it; YARP then reports a bare error status.
        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is not null && !context.Response.HasStarted
            && (context.Response.StatusCode == StatusCodes.Status413PayloadTooLarge || IsBodyTooLarge(error.Exception)))
        {
            context.Response.Clear();
            context.RequestServices.GetRequiredService<GatewayMetrics>().Rejected("body_bytes");
            await TooLarge(limit).ExecuteAsync(context);
        }
    }

    private static bool IsBodyTooLarge(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is Microsoft.AspNetCore.Http.BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
            {
                return true;
            }
        }

        return false;
    }

    private const long DrainBytes = 1024 * 1024;

    private static IResult TooLarge(long limit) => Results.Problem(
        $"The request body exceeds the gateway's limit (FilterGateway:MaxRequestBodyBytes) of {limit} bytes.",
        statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request body too large");

    /// <summary>The health and liveness probes: never rate-limited, never counted against a client's refusals.</summary>
    internal static bool IsProbe(PathString path)
        => path.StartsWithSegments(Extensions.HealthEndpointPath) || path.StartsWithSegments(Extensions.AlivenessEndpointPath);

    /// <summary>
    /// The client a per-client limit counts against: the connection's address after the forwarded-headers middleware,
    /// i.e. the one behind the trusted proxies, IPv4-mapped addresses unmapped (the rate limit and the refusal budget both use it).
    /// </summary>
    internal static string ClientKey(HttpContext context)
        => context.Connection.RemoteIpAddress is { } address ? ClientAddress.Of(address).ToString() : "unknown";
}
