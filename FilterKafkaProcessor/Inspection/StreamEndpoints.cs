using FilterKafkaProcessor.Config;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FilterKafkaProcessor.Inspection;

/// <summary>
/// <c>GET /streams</c> and <c>GET /streams/{id}</c> (docs/processor.md, "Per-stream filters"): served by the instance
/// that holds the stream; another instance answers 404 naming the partitions it holds.
/// </summary>
public static class StreamEndpoints
{
    /// <summary>Longest wait for the stream thread (it answers between batches; a restore can hold it longer).</summary>
    public static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(5);

    public const int MaxLimit = 1000;

    public static IEndpointRouteBuilder MapStreamEndpoints(this IEndpointRouteBuilder app)
    {
        var streams = app.MapGroup("/streams");
        streams.MapGet("/", ListAsync);
        streams.MapGet("/{id}", ShowAsync);
        return app;
    }

    private static async Task<IResult> ListAsync(StreamQueries queries, StreamConfigTable configs, StreamInstance instance, int? offset, int? limit, CancellationToken cancellationToken)
    {
        if (offset is < 0 || limit is < 1 or > MaxLimit)
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad paging",
                detail: $"offset must be >= 0 and limit between 1 and {MaxLimit} (got offset={offset}, limit={limit})");
        }

        return await AskAsync(queries, tasks => TypedResults.Ok(StreamViews.List(tasks, instance.Id, configs, offset ?? 0, limit ?? 100)), cancellationToken);
    }

    private static async Task<IResult> ShowAsync(string id, StreamQueries queries, StreamConfigTable configs, StreamInstance instance, CancellationToken cancellationToken)
        => await AskAsync(queries, tasks => StreamViews.Find(tasks, id, configs) is { } view
            ? TypedResults.Ok(view)
            : (IResult)TypedResults.Problem(statusCode: 404, title: "Stream not held here",
                detail: $"Stream '{id}' is not held by instance {instance.Id} (input partitions [{string.Join(",", tasks.Keys.Order())}]): it has sent no chunk yet, was evicted as idle, or its input partition belongs to another instance, which answers for it."),
            cancellationToken);

    private static async Task<IResult> AskAsync(StreamQueries queries, Func<IReadOnlyDictionary<int, Streaming.PartitionTask>, IResult> question, CancellationToken cancellationToken)
    {
        try
        {
            return await queries.AskAsync(question, AnswerTimeout, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or QueriesFullException)
        {
            return TypedResults.Problem(statusCode: 503, title: "Stream thread busy", detail: e is TimeoutException
                ? $"The stream thread did not answer within {AnswerTimeout.TotalSeconds:F0} s (restoring or retrying a batch); try again."
                : e.Message);
        }
    }
}

/// <summary>This instance's name in answers (its host name, as Kubernetes names the pod).</summary>
public sealed record StreamInstance(string Id);
