using System.Numerics;

namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// The arrays a stream thread's batches filter into (<see cref="ChunkWork.Output"/>), used again batch after batch: a
/// batch takes one per released chunk and gives them all back after its commit (<see cref="Batch.Clear"/>).
/// <c>ArrayPool&lt;double&gt;.Shared</c>, used until 2026-12-07, keeps a few dozen arrays of a size (one per thread, eight per
/// core), so all but those of a batch of hundreds of chunks were new arrays: 12 % of the bytes the processor allocated at
/// 64 samples a chunk (docs/benchmarks.md, "The processor's allocations by type"). Sizes are powers of two, as
/// ArrayPool's; at most <see cref="MaxRetainedBytes"/> are kept in all, and an array given back past that is left to
/// the GC. Not <c>ArrayPool&lt;double&gt;.Create</c>: it bounds a count of arrays per size, so a batch of each chunk size
/// a stream ever sent could stay kept, where this bounds the bytes over all sizes. One thread only (the stream thread;
/// both of its batches share one).
/// </summary>
public sealed class OutputArrays
{
    /// <summary>
    /// What is kept between batches: one batch's arrays in the default bounds (at 64 samples 2,000 chunks of 512 bytes; at
    /// 4096 f32 samples the 128 chunks of a 2 MiB batch, 4 MiB).
    /// </summary>
    public const long MaxRetainedBytes = 8 * 1024 * 1024;

    private readonly Stack<double[]>?[] _free = new Stack<double[]>?[32];

    /// <summary>Bytes of the arrays kept for the next batch.</summary>
    public long RetainedBytes { get; private set; }

    /// <summary>An array of at least <paramref name="length"/> elements (the next power of two), its content undefined.</summary>
    public double[] Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        var bucket = Bucket(length);
        if (_free[bucket] is { } free && free.TryPop(out var array))
        {
            RetainedBytes -= Bytes(array);
            return array;
        }

        return GC.AllocateUninitializedArray<double>(bucket == 31 ? Array.MaxLength : 1 << bucket);
    }

    public void Return(double[] array)
    {
        var bytes = Bytes(array);
        if (RetainedBytes + bytes > MaxRetainedBytes || !BitOperations.IsPow2(array.Length))
        {
            return;
        }

        (_free[Bucket(array.Length)] ??= new()).Push(array);
        RetainedBytes += bytes;
    }

    private static int Bucket(int length) => BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)length));

    private static long Bytes(double[] array) => (long)array.Length * sizeof(double);
}
