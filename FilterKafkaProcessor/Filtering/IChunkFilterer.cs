namespace FilterKafkaProcessor.Filtering;

/// <summary>One chunk to filter: its samples, where the filtered samples go, and its stream's state.</summary>
public readonly record struct FilterWork(StreamFilterHandle Stream, ReadOnlyMemory<double> Input, Memory<double> Output);

/// <summary>
/// Filters a batch's released chunks, in order, advancing each stream's state. The one seam between local and
/// remote mode: both must give bit-identical output.
/// </summary>
public interface IChunkFilterer
{
    /// <summary>Filters every item; items of one stream are in seq order and must be applied in that order.</summary>
    Task FilterAsync(IReadOnlyList<FilterWork> work, CancellationToken cancellationToken);

    /// <summary>
    /// True when <paramref name="failure"/> of <see cref="FilterAsync"/> is caused by the chunks (the processor then
    /// isolates the chunk and dead-letters it), false when it is a transport failure (the batch is retried).
    /// </summary>
    bool IsChunkFault(Exception failure);
}

/// <summary>Filters in this process with <see cref="SignalPipeline.Filters.FilterFactory"/>.</summary>
public sealed class LocalChunkFilterer(string algorithm, IReadOnlyDictionary<string, double> parameters) : IChunkFilterer
{
    public Task FilterAsync(IReadOnlyList<FilterWork> work, CancellationToken cancellationToken)
    {
        foreach (var item in work)
        {
            item.Stream.GetFilter(algorithm, parameters).Process(item.Input.Span, item.Output.Span);
        }

        return Task.CompletedTask;
    }

    /// <summary>In process, nothing but the chunk and its stream's state can make a filter throw.</summary>
    public bool IsChunkFault(Exception failure) => failure is not OperationCanceledException;
}
