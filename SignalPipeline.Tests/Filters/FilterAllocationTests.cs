using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

/// <summary>
/// docs/filters.md: nothing is allocated per sample or per call on the hot path; the per-thread work buffers are
/// allocated once per thread, and ls allocates only in its warm-up (a coefficient row not cached yet). An allocation
/// count, not a timing: the same on every machine.
/// </summary>
public sealed class FilterAllocationTests
{
    // Chunk sizes around the 1024-sample block: a single sample, a part block, a whole one, several blocks.
    private static readonly int[] ChunkSizes = [1, 7, 1023, 1024, 1025, 2500];

    [Theory]
    [InlineData("kalman", null, 0)]
    [InlineData("rls", "order", 8)]
    [InlineData("rls", "order", 3)]
    [InlineData("rls", "order", 64)]
    [InlineData("lms", "order", 16)]
    [InlineData("lms", "order", 5)]
    [InlineData("lms", "order", 256)]
    [InlineData("ls", "window", 31)]
    [InlineData("ls", "window", 1025)]
    public void Process_allocates_nothing_after_the_first_call_on_a_thread(string algorithm, string? sizeName, int size)
    {
        var parameters = sizeName is null ? null : new Dictionary<string, double> { [sizeName] = size };
        var z = Signals.Noisy(ChunkSizes.Sum(), seed: 5);
        var y = new double[z.Length];
        var filter = FilterFactory.Create(algorithm, parameters);

        // Warm-up: this thread's work buffers, ls's start-up rows, the JIT's first compilations.
        filter.Process(z, y);
        filter.Process(z, y);

        var fresh = FilterFactory.Create(algorithm, parameters);
        fresh.Process(z.AsSpan(0, 1100), y.AsSpan(0, 1100)); // past ls's warm-up (window <= 1025) before the count starts
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 3; round++)
        {
            var offset = 0;
            foreach (var chunk in ChunkSizes)
            {
                filter.Process(z.AsSpan(offset, chunk), y.AsSpan(offset, chunk));
                fresh.Process(z.AsSpan(offset, chunk), y.AsSpan(offset, chunk));
                offset += chunk;
            }
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{algorithm} {sizeName}={size}: {allocated} bytes allocated in 36 calls");
    }
}
