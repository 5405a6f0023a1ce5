using CsCheck;
using WebSocketBridge.Streams;

namespace SignalPipeline.Tests.WebSocketBridge;

public sealed class MinMaxDecimatorTests
{
    [Fact]
    public void Samples_that_fit_pass_unchanged_with_consecutive_positions()
    {
        double[] values = [0.5, -1, 2, 3.25];
        var output = new double[4];
        var positions = new long[4];

        var written = MinMaxDecimator.Decimate(values, maxPoints: 8, output, positions, firstPosition: 100);

        Assert.Equal(4, written);
        Assert.Equal(values, output);
        Assert.Equal([100L, 101, 102, 103], positions);
    }

    [Fact]
    public void Each_bucket_keeps_its_minimum_and_maximum_in_time_order()
    {
        // Two buckets of four: [1, 9, 0, 5] -> max 9 (i=1) before min 0 (i=2); [4, -3, 2, 8] -> min -3 before max 8.
        double[] values = [1, 9, 0, 5, 4, -3, 2, 8];
        var output = new double[4];
        var positions = new long[4];

        MinMaxDecimator.Decimate(values, maxPoints: 4, output, positions);

        Assert.Equal([9.0, 0, -3, 8], output);
        Assert.Equal([0L, 2, 4, 6], positions);
    }

    [Fact]
    public void A_single_spike_in_a_long_signal_survives()
    {
        var values = new double[100_000];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Math.Sin(i * 0.01) * 0.1;
        }

        values[61_234] = 42;
        values[7_777] = -17;
        var output = new double[MinMaxDecimator.OutputLength(values.Length, 64)];

        MinMaxDecimator.Decimate(values, 64, output);

        Assert.Equal(64, output.Length);
        Assert.Contains(42.0, output);
        Assert.Contains(-17.0, output);
    }

    [Fact]
    public void Output_is_bounded_keeps_the_extremes_and_only_contains_input_values()
    {
        Gen.Select(Gen.Double[-1e6, 1e6].Array[1, 5000], Gen.Int[2, 700])
            .Sample((values, maxPoints) =>
            {
                var length = MinMaxDecimator.OutputLength(values.Length, maxPoints);
                var output = new double[length];
                var positions = new long[length];
                var written = MinMaxDecimator.Decimate(values, maxPoints, output, positions);

                var inputs = values.ToHashSet();
                return written == length
                    && length <= maxPoints
                    && (length == values.Length || length % 2 == 0)
                    && output.Min() == values.Min()
                    && output.Max() == values.Max()
                    && output.All(inputs.Contains)
                    && positions.Zip(positions.Skip(1)).All(p => p.First <= p.Second)
                    && positions.All(p => p >= 0 && p < values.Length);
            });
    }

    [Fact]
    public void Every_bucket_extreme_is_present()
    {
        Gen.Select(Gen.Double[-100, 100].Array[10, 3000], Gen.Int[2, 200])
            .Where((values, maxPoints) => values.Length > maxPoints)
            .Sample((values, maxPoints) =>
            {
                // Buckets as docs/websocket-bridge.md defines them (points/2 equal buckets), not from the decimator's own BucketBounds.
                var buckets = maxPoints / 2;
                var output = new double[2 * buckets];
                MinMaxDecimator.Decimate(values, maxPoints, output);
                for (var b = 0; b < buckets; b++)
                {
                    int start = (int)((long)b * values.Length / buckets), end = (int)((long)(b + 1) * values.Length / buckets);
                    var bucket = values[start..end];
                    var pair = new[] { output[2 * b], output[2 * b + 1] };
                    if (!pair.Contains(bucket.Min()) || !pair.Contains(bucket.Max()))
                    {
                        return false;
                    }
                }

                return true;
            });
    }

    [Fact]
    public void Too_small_an_output_is_refused()
    {
        Assert.Throws<ArgumentException>(() => MinMaxDecimator.Decimate(new double[100], 10, new double[9]));
        Assert.Throws<ArgumentOutOfRangeException>(() => MinMaxDecimator.OutputLength(100, 1));
    }
}
