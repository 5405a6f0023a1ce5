using Microsoft.Extensions.Options;
using WebSocketBridge.Clients;

namespace WebSocketBridge.FilterState;

/// <summary>
/// <c>GET /streams/{id}/filter</c>: the processor's <c>GET /streams/{id}</c> answer (docs/processor.md, "The filter state
/// on view") as it is, through <see cref="FilterStateCache"/>; otherwise a problem naming why (docs/websocket-bridge.md).
/// </summary>
public static class FilterStateEndpoint
{
    /// <summary>The settings (validated at start), the cache and its metrics.</summary>
    public static WebApplicationBuilder AddFilterStateView(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IValidateOptions<FilterStateOptions>, FilterStateOptionsValidator>();
        builder.Services.AddOptions<FilterStateOptions>()
            .BindConfiguration(FilterStateOptions.SectionName)
            .PostConfigure<IConfiguration>((options, configuration) =>
            {
                if (configuration[FilterStateOptions.UrlVariable] is { Length: > 0 } url)
                {
                    options.ProcessorUrl = url;
                }
            })
            .ValidateOnStart();
        builder.Services.AddSingleton<FilterStateMetrics>();
        builder.Services.AddSingleton<FilterStateCache>();
        // Made at start, not on the first request: its address table is in .addresses.tracked{table=filter_state} from the start.
        builder.Services.AddActivatedSingleton<FilterStateRateLimit>();
        return builder;
    }

    public static IEndpointRouteBuilder MapFilterStateEndpoint(this IEndpointRouteBuilder app)
    {
        app.MapGet("/streams/{id}/filter", AnswerAsync);
        return app;
    }

    private static async Task<IResult> AnswerAsync(string id, HttpContext context, FilterStateCache cache,
        FilterStateRateLimit rate, IOptions<FilterStateOptions> options, FilterStateMetrics metrics)
    {
        if (!options.Value.IsConfigured)
        {
            metrics.Request("not_configured");
            return Results.Problem(statusCode: StatusCodes.Status501NotImplemented, title: "Filter state not configured",
                detail: $"This bridge has no processor address (Bridge:ProcessorUrl or {FilterStateOptions.UrlVariable}), so it cannot show filter states.");
        }

        if (!rate.TryTake(context.Connection.RemoteIpAddress))
        {
            metrics.Request("address_rate");
            context.Response.Headers.RetryAfter = rate.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return TooManyRequests.Problem("Asking too often from this address",
                $"One address may ask for filter states {options.Value.FilterStateRequestsPerAddressPerMinute} times per minute (Bridge:FilterStateRequestsPerAddressPerMinute).");
        }

        // A stream id may hold '/' (the page sends it as %2F, which routing leaves encoded) and '%'.
        if (context.DecodedRouteValue(nameof(id)) is not { } decoded)
        {
            metrics.Request("invalid");
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid stream id",
                detail: DecodedRouteValues.NotUtf8Detail);
        }

        id = decoded;
        var idBytes = System.Text.Encoding.UTF8.GetByteCount(id);
        if (idBytes > ClientCommand.MaxStreamIdBytes)
        {
            metrics.Request("invalid");
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid stream id",
                detail: $"A stream id has 1 to {ClientCommand.MaxStreamIdBytes} UTF-8 bytes; got {idBytes}.");
        }

        var answer = await cache.GetAsync(id).WaitAsync(context.RequestAborted);
        metrics.Request(answer.Tag);
        context.Response.Headers.CacheControl = "no-store";
        switch (answer.Result)
        {
            case FilterStateResult.Ok:
                return Results.Bytes(answer.Json!, "application/json");
            case FilterStateResult.NotFound:
                return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Stream not known to the processor", detail: answer.Detail);
            default:
                context.Response.Headers.RetryAfter = "1";
                return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Filter state not available now",
                    detail: answer.Detail, extensions: new Dictionary<string, object?> { ["reason"] = answer.Tag });
        }
    }
}
