using System.Runtime.ExceptionServices;

namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// Spreads a batch's decodes and encodes over up to <see cref="ProcessorOptions.CodecThreads"/> threads (issue 14: the
/// stream thread keeps the transaction, the sequencing and the produce calls; the codec work of a record depends on
/// that record alone). Work too small to pay for a thread hand-off runs inline: binary chunks (a copy per record) never
/// reach the bar at the default batch size, JSON chunks (numbers parsed and formatted) do.
/// </summary>
public sealed class CodecWorkers(int threads)
{
    /// <summary>Below this estimated cost (in JSON-equivalent bytes) a batch is coded on the stream thread alone.</summary>
    public const long MinParallelCost = 64 * 1024;

    /// <summary>The cost of a value as the JSON bytes that would take as long: binary samples are copied, not parsed.</summary>
    public static long Cost(ReadOnlySpan<byte> value) => value.Length > 0 && value[0] == (byte)'{' ? value.Length : value.Length / 32;

    public int Threads { get; } = threads <= 0 ? Environment.ProcessorCount : threads;

    /// <summary>Whether <see cref="For"/> would spread <paramref name="count"/> items of this cost over several threads.</summary>
    public bool IsParallel(int count, long cost) => Math.Min(Threads, count) > 1 && cost >= MinParallelCost;

    /// <summary>Runs <paramref name="body"/> for 0..count-1, in contiguous ranges on up to <see cref="Threads"/> threads.</summary>
    /// <remarks>The first exception a body throws is rethrown as itself (not an AggregateException), so the caller classifies it as if run inline.</remarks>
    public void For<TState>(int count, long cost, TState state, Action<TState, int> body)
    {
        if (!IsParallel(count, cost))
        {
            for (var i = 0; i < count; i++)
            {
                body(state, i);
            }

            return;
        }

        var workers = Math.Min(Threads, count);

        try
        {
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, worker =>
            {
                for (int i = (int)((long)count * worker / workers), end = (int)((long)count * (worker + 1) / workers); i < end; i++)
                {
                    body(state, i);
                }
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }
}
