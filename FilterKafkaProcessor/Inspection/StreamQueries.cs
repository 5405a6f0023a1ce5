using System.Collections.Concurrent;
using FilterKafkaProcessor.Streaming;

namespace FilterKafkaProcessor.Inspection;

/// <summary>
/// Questions about the streams, answered by the stream thread between transactions (it alone touches stream state,
/// so a question never sees a half-filtered batch and costs the thread nothing while none is asked). Bounded: past
/// <see cref="MaxPending"/> waiting questions a new one is refused.
/// </summary>
public sealed class StreamQueries
{
    /// <summary>Questions waiting at most; more are refused (HTTP 503) so a flood of requests cannot grow memory.</summary>
    public const int MaxPending = 256;

    private readonly ConcurrentQueue<Action<IReadOnlyDictionary<int, PartitionTask>>> _pending = new();
    private int _count;

    /// <summary>Asks; the answer comes after the stream thread's current batch. Throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public Task<T> AskAsync<T>(Func<IReadOnlyDictionary<int, PartitionTask>, T> question, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _count) > MaxPending)
        {
            Interlocked.Decrement(ref _count);
            throw new QueriesFullException();
        }

        var answer = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending.Enqueue(tasks =>
        {
            try
            {
                answer.TrySetResult(question(tasks));
            }
            catch (Exception e)
            {
                answer.TrySetException(e);
            }
        });
        return answer.Task.WaitAsync(timeout, cancellationToken);
    }

    /// <summary>Called by the stream thread: answers every waiting question.</summary>
    public void Answer(IReadOnlyDictionary<int, PartitionTask> tasks)
    {
        while (_pending.TryDequeue(out var question))
        {
            Interlocked.Decrement(ref _count);
            question(tasks);
        }
    }
}

/// <summary><see cref="StreamQueries.MaxPending"/> questions are already waiting.</summary>
public sealed class QueriesFullException() : Exception($"{StreamQueries.MaxPending} stream questions are already waiting for the stream thread");
