using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

/// <summary>Seeded test signals and comparisons shared by the filter tests.</summary>
internal static class Signals
{
    /// <summary>A sum of two sinusoids, a slow drift, an offset and Gaussian noise: a realistic noisy sensor signal.</summary>
    public static double[] Noisy(int length, int seed, double noise = 0.5, double offset = 3)
    {
        var random = new Random(seed);
        var z = new double[length];
        for (var n = 0; n < length; n++)
        {
            z[n] = offset + Math.Sin(0.01 * n) + 0.5 * Math.Sin(0.173 * n + 1) + 1e-5 * n + noise * Gaussian(random);
        }

        return z;
    }

    public static double Gaussian(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static double[] Run(IStreamFilter filter, double[] z)
    {
        var y = new double[z.Length];
        filter.Process(z, y);
        return y;
    }

    public static double[] Run(string algorithm, double[] z, Dictionary<string, double>? parameters = null)
        => Run(FilterFactory.Create(algorithm, parameters), z);

    /// <summary>
    /// Relative agreement: |actual - expected| &lt;= tolerance * max(|expected|, scale), where scale is the RMS of the
    /// input signal (so outputs that cross zero are compared relative to the signal's size, not to 0).
    /// </summary>
    public static void AssertClose(double[] expected, double[] actual, double tolerance, double scale)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = 0.0;
        var worstIndex = -1;
        for (var n = 0; n < expected.Length; n++)
        {
            var error = Math.Abs(actual[n] - expected[n]) / Math.Max(Math.Abs(expected[n]), scale);
            if (double.IsNaN(error))
            {
                // A NaN fails at once: kept as the worst, the next sample's finite error would replace it (!(e <= NaN)).
                Assert.Fail($"Sample {n}: expected {expected[n]:R}, got {actual[n]:R} (not comparable).");
            }

            if (error > worst)
            {
                worst = error;
                worstIndex = n;
            }
        }

        Assert.True(worst <= tolerance,
            $"Sample {worstIndex}: expected {expected[Math.Max(worstIndex, 0)]:R}, got {actual[Math.Max(worstIndex, 0)]:R}; relative error {worst:E3} > {tolerance:E1}.");
    }

    public static double Rms(double[] z) => Math.Sqrt(z.Sum(v => v * v) / z.Length);

    public static void AssertBitIdentical(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var n = 0; n < expected.Length; n++)
        {
            if (BitConverter.DoubleToInt64Bits(expected[n]) != BitConverter.DoubleToInt64Bits(actual[n]))
            {
                Assert.Fail($"Sample {n}: expected {expected[n]:R}, got {actual[n]:R} (not bit-identical).");
            }
        }
    }
}
