using Microsoft.Extensions.Options;
using WebSocketBridge.Clients;
using WebSocketBridge.FilterState;
using WebSocketBridge.Streams;

namespace WebSocketBridge;

public static class BridgeEndpoints
{
    /// <summary>Maps <c>/ws</c>, <c>GET /streams</c> and <c>GET /clients</c>.</summary>
    public static WebApplication MapBridgeEndpoints(this WebApplication app)
    {
        app.Map("/ws", AcceptAsync);
        app.MapGet("/streams", (LiveStreamRegistry streams, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
            => Results.Bytes(streams.SummariesJson(json.Value.SerializerOptions), "application/json; charset=utf-8"));
        app.MapGet("/clients", (ClientRegistry clients) => clients.Listing());
        app.MapFilterStateEndpoint();
        return app;
    }

    private static async Task<IResult> AcceptAsync(
        HttpContext context, ClientRegistry clients, IOptions<BridgeOptions> options, BridgeMetrics metrics,
        TimeProvider time, IHostApplicationLifetime lifetime, ILogger<ClientConnection> logger)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "WebSocket upgrade required",
                detail: "/ws speaks WebSocket only: connect with a WebSocket client (ws://host/ws).");
        }

        var origin = context.Request.Headers.Origin.ToString();
        if (!IsOriginAllowed(origin, context.Request, options.Value.AllowedOrigins))
        {
            metrics.ConnectionRejected("origin");
            return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Origin not allowed",
                detail: $"Origin '{origin}' may not open /ws. Allowed: the page's own origin and Bridge:AllowedOrigins.");
        }

        // Read before any per-address limit, so a mistyped query takes no connect token.
        if (ReadQuery(context.Request.Query, out var raw) is { } queryProblem)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid /ws query", detail: queryProblem);
        }

        var address = context.Connection.RemoteIpAddress;
        switch (clients.TryReserve(address))
        {
            case ReserveResult.TooManyConnections:
                metrics.ConnectionRejected("limit");
                context.Response.Headers.RetryAfter = "5";
                return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Too many connections",
                    detail: $"The bridge serves at most {options.Value.MaxConnections} clients (Bridge:MaxConnections).");
            case ReserveResult.TooManyFromAddress:
                metrics.ConnectionRejected("address_limit");
                context.Response.Headers.RetryAfter = "5";
                return TooManyRequests.Problem("Too many connections from this address", $"The bridge serves at most {options.Value.MaxConnectionsPerAddress} clients per address (Bridge:MaxConnectionsPerAddress).");
            case ReserveResult.ConnectingTooOften:
                metrics.ConnectionRejected("address_rate");
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(60.0 / options.Value.ConnectsPerAddressPerMinute)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                return TooManyRequests.Problem("Connecting too often from this address",
                    $"One address may open at most {options.Value.ConnectsPerAddressPerMinute} connections per minute (Bridge:ConnectsPerAddressPerMinute) "
                            + $"after a burst of {options.Value.MaxConnectionsPerAddress} (Bridge:MaxConnectionsPerAddress).");
        }

        try
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var client = new ClientConnection(clients.NextId(), socket, raw, options.Value, metrics, time);
            clients.Add(client);
            metrics.ClientConnected();
            try
            {
                using var stopping = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
                await client.RunAsync(stopping.Token);
            }
            finally
            {
                clients.Remove(client);
                metrics.ClientDisconnected();
                logger.LogDebug("Client {ClientId} left; {Dropped} frames dropped", client.Id, client.Dropped);
            }
        }
        finally
        {
            clients.Release(address);
        }

        return Results.Empty;
    }

    /// <summary>
    /// The query of <c>/ws</c>: only <c>raw</c>, once, <c>1</c> or <c>true</c> (undecimated frames) or <c>0</c> or
    /// <c>false</c> (decimated, as without it). Returns what is wrong, or null. Anything else is refused rather than read
    /// as "not raw": a client that asked for <c>raw=yes</c> or <c>?row=1</c> would get decimated frames and never know.
    /// </summary>
    public static string? ReadQuery(IQueryCollection query, out bool raw)
    {
        raw = false;
        foreach (var (name, values) in query)
        {
            if (name != "raw")
            {
                return $"Unknown query parameter '{Shorten(name)}': /ws takes only raw (1, true, 0 or false).";
            }

            if (values.Count != 1)
            {
                return $"raw is given {values.Count} times; give it once: 1, true, 0 or false.";
            }

            switch (values[0])
            {
                case "1" or "true":
                    raw = true;
                    break;
                case "0" or "false":
                    break;
                default:
                    return $"raw = '{Shorten(values[0])}' is not 1, true, 0 or false.";
            }
        }

        return null;
    }

    private static string? Shorten(string? value) => value is { Length: > 40 } ? value[..40] + "..." : value;

    /// <summary>
    /// Browsers send Origin; other clients do not and are let through (an Origin check protects users' browsers from
    /// other sites, it is not authentication). Same origin means the same host and port as the request was sent to.
    /// </summary>
    public static bool IsOriginAllowed(string origin, HttpRequest request, IReadOnlyCollection<string> allowed)
    {
        if (string.IsNullOrEmpty(origin) || allowed.Contains("*"))
        {
            return true;
        }

        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri))
        {
            return false;
        }

        if (string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var normalized = origin.TrimEnd('/');
        return allowed.Any(a => string.Equals(a.TrimEnd('/'), normalized, StringComparison.OrdinalIgnoreCase));
    }
}
