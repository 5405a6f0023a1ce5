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

        faults.MapPost("/brokers/{id:int}/down", (int id, DevBrokerHost host) => OnBroker(id, host, c => c.SetBrokerDown(id)));
        faults.MapPost("/brokers/{id:int}/up", (int id, DevBrokerHost host) => OnBroker(id, host, c => c.SetBrokerUp(id)));
        faults.MapPost("/brokers/{id:int}/rtt", async (int id, HttpRequest request, DevBrokerHost host) =>
        {
            var (body, malformed) = await ReadAsync<RttBody>(request, """{"ms":200}""");
            if (body is null)
            {
                return malformed!;
            }

            return body.Ms is { } ms && ms >= 0
                ? OnBroker(id, host, c => c.SetBrokerRtt(id, TimeSpan.FromMilliseconds(ms)))
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

    private static IResult OnBroker(int id, DevBrokerHost host, Action<MockKafkaCluster> apply)
    {
        var cluster = host.Cluster;
        if (id != MockKafkaCluster.AllBrokers && (id < 1 || id > cluster.BrokerCount))
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown broker",
                detail: $"Broker {id} does not exist: ids are 1 to {cluster.BrokerCount} (DevBroker:Brokers), or -1 for all.");
        }

        apply(cluster);
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
