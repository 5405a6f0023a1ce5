using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Directory;

namespace FilterKafkaProcessor.Inspection;

/// <summary>
/// <c>GET /streams</c> and <c>GET /streams/{id}</c> (docs/processor.md, "Per-stream filters"). Any instance answers for
/// any stream: one it does not hold it looks up on the other live instances of the directory (<see cref="StreamLookup"/>)
/// and answers with the owner's view; <c>?local=true</c> answers from this instance alone (what a lookup asks).
/// </summary>
public static class StreamEndpoints
{
    /// <summary>Longest wait for the stream thread (it answers between batches; a restore can hold it longer).</summary>
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(5);

    public const int MaxLimit = 1000;

    /// <summary>
    /// How a stream's view is written. A committed state is finite, but a value derived from it for reading need not be
    /// (kalman's gain (p + q) / (p + q + r) is NaN once p + q overflows), and JSON has no number for it: written as the
    /// strings "NaN", "Infinity", "-Infinity" (System.Text.Json's named literals) rather than failing the answer with a 500.
    /// </summary>
    private static readonly System.Text.Json.JsonSerializerOptions ViewJson = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static IEndpointRouteBuilder MapStreamEndpoints(this IEndpointRouteBuilder app)
    {
        var streams = app.MapGroup("/streams");
        streams.MapGet("/", ListAsync);
        streams.MapGet("/{id}", ShowAsync);
        return app;
    }

    // The query values are read here, not bound as int?/bool?: a value ASP.NET cannot bind would get a 400 without a body.
    private static async Task<IResult> ListAsync(StreamQueries queries, StreamConfigTable configs, StreamInstance instance, InstanceDirectory directory, DirectoryTelemetry telemetry, string? offset, string? limit, CancellationToken cancellationToken)
    {
        if (!TryParse(offset, out var from) || !TryParse(limit, out var count) || from is < 0 || count is < 1 or > MaxLimit)
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad paging",
                detail: $"offset must be an integer >= 0 and limit an integer between 1 and {MaxLimit} (got offset={offset}, limit={limit})");
        }

        var instances = directory.Live();
        return await AskAsync(queries, telemetry, tasks => TypedResults.Ok(StreamViews.List(tasks, instance.Id, configs, from ?? 0, count ?? 100) with { Instances = instances }), cancellationToken);
    }

    private static bool TryParse(string? value, out int? number)
    {
        number = null;
        if (value is null)
        {
            return true;
        }

        var parsed = int.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n);
        number = parsed ? n : null;
        return parsed;
    }

    private static async Task<IResult> ShowAsync(string id, string? local, HttpContext context, StreamQueries queries, StreamConfigTable configs, StreamInstance instance, StreamLookup lookup, DirectoryTelemetry telemetry, CancellationToken cancellationToken)
    {
        // A stream id may hold '/': sent as %2F, which routing leaves encoded.
        if (context.DecodedRouteValue(nameof(id)) is not { } decoded)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid stream id",
                detail: DecodedRouteValues.NotUtf8Detail);
        }

        var answerLocally = false;
        if (local is not null && !bool.TryParse(local, out answerLocally))
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad query",
                detail: $"local must be true or false (got local={local})");
        }

        id = decoded;
        LocalAnswer? here = null;
        IResult? busy = null;
        try
        {
            here = await queries.AskAsync(tasks => new LocalAnswer(StreamViews.Find(tasks, id, configs, instance.Id), string.Join(",", tasks.Keys.Order())), AnswerTimeout, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or QueriesFullException)
        {
            busy = Busy(e, telemetry);
        }

        if (here?.View is { } view)
        {
            return TypedResults.Json(view, ViewJson);
        }

        var self = here is null ? $"instance {instance.Id} (its stream thread did not answer)" : $"instance {instance.Id} (input partitions [{here.Held}])";
        if (answerLocally)
        {
            // What a lookup from another instance asks: this instance alone answers, it never asks further (no loops).
            return busy ?? TypedResults.Problem(statusCode: 404, title: "Stream not held here",
                detail: $"Stream '{id}' is not held by {self}: it has sent no chunk yet, was evicted as idle, or its input partition belongs to another instance (ask without local=true to look there).");
        }

        var found = await lookup.FindAsync(id, cancellationToken);
        telemetry.Lookup(found switch
        {
            { Refused: true } => "refused",
            { Body: not null } => "forwarded",
            { Unreachable.Count: > 0 } => "unreachable",
            _ => "not-found",
        });
        if (found.Body is not null)
        {
            return TypedResults.Bytes(found.Body, "application/json"); // the owner's view: its "instance" names the owner
        }

        var others = string.Join(", ", found.Asked.Select(e => $"{e.Instance} (input partitions [{string.Join(",", e.Partitions)}])"));
        if (found.Refused)
        {
            return TypedResults.Problem(statusCode: 503, title: "Too many stream lookups",
                detail: $"Stream '{id}' is not held by {self}, and {lookup.MaxLookups} lookups on other instances are already running here; try again.");
        }

        if (found.Unreachable.Count > 0)
        {
            return TypedResults.Problem(statusCode: 503, title: "Stream owner not reachable",
                detail: $"Stream '{id}' is not held by {self}; asked {others}: no answer from {string.Join("; ", found.Unreachable)}. The stream may be held there; try again.");
        }

        return busy ?? TypedResults.Problem(statusCode: 404, title: "Stream not held by any instance",
            detail: $"Stream '{id}' is not held by {self}{(others.Length > 0 ? " nor by " + others : " (no other live instance in the directory)")}: it has sent no chunk yet or was evicted as idle.");
    }

    private static async Task<IResult> AskAsync(StreamQueries queries, DirectoryTelemetry telemetry, Func<IReadOnlyDictionary<int, Streaming.PartitionTask>, IResult> question, CancellationToken cancellationToken)
    {
        try
        {
            return await queries.AskAsync(question, AnswerTimeout, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or QueriesFullException)
        {
            return Busy(e, telemetry);
        }
    }

    // Counted here, whether or not another instance answers after: the limit this instance met is the metric's.
    private static IResult Busy(Exception e, DirectoryTelemetry telemetry)
    {
        telemetry.Unanswered(timedOut: e is TimeoutException);
        return TypedResults.Problem(statusCode: 503, title: "Stream thread busy", detail: e is TimeoutException
            ? $"The stream thread did not answer within {AnswerTimeout.TotalSeconds:F0} s (restoring or retrying a batch); try again."
            : e.Message);
    }

    /// <summary>The stream thread's answer: the view when it holds the stream, and its partitions.</summary>
    private sealed record LocalAnswer(StreamView? View, string Held);
}

/// <summary>This instance's name in answers and in the directory (<c>Processor:InstanceId</c>, else host name and process id).</summary>
public sealed record StreamInstance(string Id);
