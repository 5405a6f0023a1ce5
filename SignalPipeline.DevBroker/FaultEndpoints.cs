using System.Globalization;
using System.Numerics;
using System.Text.Json;
using Confluent.Kafka;

namespace SignalPipeline.DevBroker;

/// <summary>
/// HTTP control of <see cref="MockKafkaCluster"/>'s fault injection, for tests that run the broker as a process
/// (the AppHost's <c>kafka</c> resource). Mapped only when <c>DevBroker:FaultInjection=true</c>.
/// </summary>
public static class FaultEndpoints
{
    public sealed record RequestErrorsBody(JsonElement? Api, JsonElement[]? Errors);

    public sealed record RttBody(int? Ms);

    public sealed record TopicErrorBody(JsonElement? Error);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapFaultInjection(this IEndpointRouteBuilder app)
    {
        var faults = app.MapGroup("/faults");

        faults.MapPost("/request-errors", async (HttpRequest request, DevBrokerHost host) =>
        {
            var (body, malformed) = await ReadAsync<RequestErrorsBody>(request, """{"api":"Produce","errors":["NOT_ENOUGH_REPLICAS"]}""");
            if (body is null)
            {
                return malformed!;
            }

            if (!FaultNames.TryParseApi(body.Api, out var api))
            {
                var given = body.Api is { ValueKind: JsonValueKind.String } name ? $"'{name.GetString()}'" : body.Api?.GetRawText() ?? "missing";
                return BadRequest("Unknown API", $"'api' is {given}; expected one of {FaultNames.ApiList} or a numeric API key.");
            }

            if (body.Errors is not { Length: > 0 } errors)
            {
                return BadRequest("No errors", "'errors' must be a non-empty array of error names (NOT_ENOUGH_REPLICAS) or codes (19).");
            }

            var codes = new ErrorCode[errors.Length];
            for (var i = 0; i < errors.Length; i++)
            {
                if (!FaultNames.TryParseError(errors[i], out codes[i]))
                {
                    return BadRequest("Unknown error", $"errors[{i}] is {errors[i].GetRawText()}; expected a Kafka error name (NOT_ENOUGH_REPLICAS, _TRANSPORT), a Confluent.Kafka ErrorCode name or a defined code.");
                }
            }

            host.Cluster.PushRequestErrors(api, codes);
            return Results.NoContent();
        });

        // The id is taken as text and checked here, not by an {id:int} route constraint: a constraint that does not
        // match leaves the request to no endpoint, a bare 404 that does not say the id is what is wrong.
        faults.MapPost("/brokers/{id}/down", (string id, DevBrokerHost host)
            => Broker(id, host, out var broker) ?? Applied(() => host.Cluster.SetBrokerDown(broker)));
        faults.MapPost("/brokers/{id}/up", (string id, DevBrokerHost host)
            => Broker(id, host, out var broker) ?? Applied(() => host.Cluster.SetBrokerUp(broker)));
        faults.MapPost("/brokers/{id}/rtt", async (string id, HttpRequest request, DevBrokerHost host) =>
        {
            if (Broker(id, host, out var broker) is { } refused)
            {
                return refused;
            }

            var (body, malformed) = await ReadAsync<RttBody>(request, """{"ms":200}""");
            if (body is null)
            {
                return malformed!;
            }

            return body.Ms is { } ms && ms >= 0
                ? Applied(() => host.Cluster.SetBrokerRtt(broker, TimeSpan.FromMilliseconds(ms)))
                : BadRequest("Bad RTT", $"'ms' is {body.Ms?.ToString() ?? "missing"}; expected milliseconds >= 0.");
        });

        faults.MapPost("/topics/{topic}/error", async (string topic, HttpRequest request, DevBrokerHost host) =>
        {
            var (body, malformed) = await ReadAsync<TopicErrorBody>(request, """{"error":"TOPIC_AUTHORIZATION_FAILED"}""");
            if (body is null)
            {
                return malformed!;
            }

            if (body.Error is not { } element || !FaultNames.TryParseError(element, out var error))
            {
                return BadRequest("Unknown error", $"'error' is {body.Error?.GetRawText() ?? "missing"}; expected a Kafka error name, a Confluent.Kafka ErrorCode name or a defined code (NO_ERROR clears it).");
            }

            host.Cluster.SetTopicError(topic, error);
            return Results.NoContent();
        });

        faults.MapPost("/topics/{topic}/delete", (string topic, DevBrokerHost host) =>
        {
            try
            {
                host.Cluster.DeleteTopic(topic);
                return Results.NoContent();
            }
            catch (InvalidOperationException ex)
            {
                return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown topic", detail: ex.Message);
            }
        });

        faults.MapPost("/clear", (DevBrokerHost host) =>
        {
            host.Cluster.ClearFaults();
            return Results.NoContent();
        });

        return app;
    }

    /// <summary>
    /// The broker a path's <c>{id}</c> names, or the problem to answer: 400 when the id is not a whole number (the ids the
    /// <c>int</c> route constraint took before, invariant, leading sign allowed), 404 when no broker has it (a number
    /// beyond <see cref="int"/> too); both name the id as sent and the valid ones.
    /// </summary>
    private static IResult? Broker(string id, DevBrokerHost host, out int broker)
    {
        var count = host.Cluster.BrokerCount;
        var valid = $"ids are 1 to {count} (DevBroker:Brokers), or {MockKafkaCluster.AllBrokers} for all.";
        if (!int.TryParse(id, NumberStyles.Integer, CultureInfo.InvariantCulture, out broker))
        {
            return BigInteger.TryParse(id, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                ? UnknownBroker($"Broker {id.Trim()} does not exist: {valid}")
                : BadRequest("Bad broker id", $"The broker id '{id}' is not a whole number: {valid}");
        }

        return broker == MockKafkaCluster.AllBrokers || (broker >= 1 && broker <= count)
            ? null
            : UnknownBroker($"Broker {broker} does not exist: {valid}");
    }

    private static IResult UnknownBroker(string detail)
        => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown broker", detail: detail);

    private static IResult Applied(Action apply)
    {
        apply();
        return Results.NoContent();
    }

    // Bodies are read here rather than bound by the framework, whose 400 for bad JSON does not say what is wrong.
    private static async Task<(T? Body, IResult? Malformed)> ReadAsync<T>(HttpRequest request, string example)
        where T : class
    {
        try
        {
            if (request.HasJsonContentType() && await request.ReadFromJsonAsync<T>(Json, request.HttpContext.RequestAborted) is { } body)
            {
                return (body, null);
            }

            return (null, BadRequest("Malformed body", $"Expected a JSON body (Content-Type: application/json) like {example}."));
        }
        catch (JsonException ex)
        {
            return (null, BadRequest("Malformed body", $"The body is not valid JSON like {example}: {ex.Message}"));
        }
    }

    private static IResult BadRequest(string title, string detail)
        => Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: title, detail: detail);
}
