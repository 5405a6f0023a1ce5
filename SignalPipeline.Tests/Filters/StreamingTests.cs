using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

/// <summary>Chunked processing and state snapshots must not change a single bit of the output.</summary>
public sealed class StreamingTests
{
    public static TheoryData<string, Dictionary<string, double>?> Configurations() => new()
    {
        { "kalman", null },
        { "kalman", new() { ["q"] = 1e-9, ["r"] = 1 } },
        { "rls", null },
        { "rls", new() { ["order"] = 3, ["lambda"] = 1 } },
        { "rls", new() { ["order"] = 33 } },
        { "lms", null },
        { "lms", new() { ["order"] = 1 } },
        { "lms", new() { ["order"] = 37, ["mu"] = 1.2 } },
        { "ls", null },
        { "ls", new() { ["window"] = 2, ["degree"] = 0 } },
        { "ls", new() { ["window"] = 300, ["degree"] = 7 } },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Chunked_equals_whole_for_random_splits(string algorithm, Dictionary<string, double>? parameters)
    {
        var z = Signals.Noisy(20_000, seed: 51);
        var whole = Signals.Run(algorithm, z, parameters);
        var random = new Random(algorithm.GetHashCode(StringComparison.Ordinal) ^ 52);
        for (var trial = 0; trial < 20; trial++)
        {
            var filter = FilterFactory.Create(algorithm, parameters);
            var chunked = new double[z.Length];
            var offset = 0;
            while (offset < z.Length)
            {
                // Mostly small chunks (including empty ones), sometimes long ones that cross the internal block size.
                var size = random.Next(4) == 0 ? random.Next(5000) : random.Next(40);
                size = Math.Min(size, z.Length - offset);
                filter.Process(z.AsSpan(offset, size), chunked.AsSpan(offset, size));
                offset += size;
            }

            Signals.AssertBitIdentical(whole, chunked);
            Assert.Equal(z.Length, filter.SamplesProcessed);
        }
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Snapshot_mid_stream_continues_bit_identically(string algorithm, Dictionary<string, double>? parameters)
    {
        var z = Signals.Noisy(12_000, seed: 53);
        var whole = Signals.Run(algorithm, z, parameters);
        foreach (var cut in new[] { 0, 1, 5, 150, 7_777 })
        {
            var first = FilterFactory.Create(algorithm, parameters);
            var y = new double[z.Length];
            first.Process(z.AsSpan(0, cut), y.AsSpan(0, cut));
            var restored = FilterFactory.Restore(first.SaveState(), algorithm.ToUpperInvariant());
            Assert.Equal(algorithm, restored.Algorithm);
            Assert.Equal(cut, restored.SamplesProcessed);
            restored.Process(z.AsSpan(cut), y.AsSpan(cut));
            Signals.AssertBitIdentical(whole, y);
            Assert.Equal(z.Length, restored.SamplesProcessed);
            Assert.Equal(restored.SaveState(), RunAll(algorithm, parameters, z).SaveState());
        }
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void In_place_processing_equals_separate_buffers(string algorithm, Dictionary<string, double>? parameters)
    {
        var z = Signals.Noisy(9_000, seed: 54);
        var expected = Signals.Run(algorithm, z, parameters);
        var buffer = (double[])z.Clone();
        FilterFactory.Create(algorithm, parameters).Process(buffer, buffer);
        Signals.AssertBitIdentical(expected, buffer);
    }

    private static IStreamFilter RunAll(string algorithm, Dictionary<string, double>? parameters, double[] z)
    {
        var filter = FilterFactory.Create(algorithm, parameters);
        filter.Process(z, new double[z.Length]);
        return filter;
    }
}
