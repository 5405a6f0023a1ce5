using System.Runtime.Intrinsics;
using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

/// <summary>
/// Each kernel's 256-bit, 128-bit and scalar copies (one generic kernel over quads, see IQuadWidth) give the same bits as an independent scalar reference of the
/// documented order, whichever width this machine accelerates (a form runs in software where it is not accelerated:
/// slower, still exact). The width choice itself is a pure decision tested for every combination.
/// </summary>
public sealed class VectorKernelWidthTests
{
    private static readonly int[] Orders = [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 20, 31, 64, 67];
    private static readonly int[] Counts = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 100];

    [Theory]
    [InlineData(true, true, true, 256)]
    [InlineData(false, true, true, 128)]
    [InlineData(false, false, true, 64)]
    [InlineData(true, true, false, 64)]
    [InlineData(false, true, false, 64)]
    public void The_widest_accelerated_width_with_hardware_fma_is_chosen(bool v256, bool v128, bool fma, int expectedBits)
        => Assert.Equal((VectorWidth)expectedBits, VectorKernels.Choose(v256, v128, fma));

    [Fact]
    public void Lagged_is_the_same_at_every_width()
    {
        foreach (var m in Orders)
        {
            foreach (var count in Counts)
            {
                foreach (var lag in new[] { 0, 1, 2 })
                {
                    var z = Samples(count + m + lag, seed: m * 1000 + count);
                    var expected = new double[count];
                    for (var i = 0; i < count; i++)
                    {
                        double acc = 0;
                        for (var k = 0; k < m; k++)
                        {
                            acc = Math.FusedMultiplyAdd(z[i + k], z[i + k + lag], acc);
                        }

                        expected[i] = acc;
                    }

                    AssertBits(expected, Run(count, r => VectorKernels.Lagged<QuadWidth256, Vector256<double>>(ref z[0], count, m, lag, ref r[0])), $"256 m={m} n={count} lag={lag}");
                    AssertBits(expected, Run(count, r => VectorKernels.Lagged<QuadWidth128, Vector128Pair>(ref z[0], count, m, lag, ref r[0])), $"128 m={m} n={count} lag={lag}");
                    AssertBits(expected, Run(count, r => VectorKernels.Lagged<QuadWidthScalar, ScalarQuad>(ref z[0], count, m, lag, ref r[0])), $"scalar quads m={m} n={count} lag={lag}");
                    AssertBits(expected, Run(count, r => VectorKernels.LaggedScalar(ref z[0], 0, count, m, lag, ref r[0])), $"scalar m={m} n={count} lag={lag}");
                    AssertBits(expected, Run(count, r => VectorKernels.Lagged(ref z[0], count, m, lag, ref r[0])), $"best m={m} n={count} lag={lag}");
                }
            }
        }
    }

    [Fact]
    public void Correlations_equal_three_lagged_sums()
    {
        foreach (var m in Orders)
        {
            foreach (var count in Counts)
            {
                var z = Samples(count + m + 2, seed: 7 * m + count);
                var (e2, l12, l22) = (new double[count + 1], new double[count + 1], new double[count + 1]);
                VectorKernels.LaggedScalar(ref z[2], 0, count, m, 0, ref e2[0]);
                VectorKernels.LaggedScalar(ref z[1], 0, count, m, 1, ref l12[0]);
                VectorKernels.LaggedScalar(ref z[0], 0, count, m, 2, ref l22[0]);
                foreach (var (width, correlations) in new (string, Correlate)[]
                {
                    ("256 one pass", VectorKernels.Correlations256),
                    ("128", VectorKernels.Correlations<QuadWidth128, Vector128Pair>),
                    ("scalar", VectorKernels.Correlations<QuadWidthScalar, ScalarQuad>),
                    ("best", VectorKernels.Correlations),
                })
                {
                    var (energy, lag1, lag2) = (new double[count + 1], new double[count + 1], new double[count + 1]);
                    correlations(ref z[0], count, m, ref energy[0], ref lag1[0], ref lag2[0]);
                    AssertBits(e2, energy, $"{width} energy m={m} n={count}");
                    AssertBits(l12, lag1, $"{width} lag1 m={m} n={count}");
                    AssertBits(l22, lag2, $"{width} lag2 m={m} n={count}");
                }
            }
        }
    }

    [Fact]
    public void Dot_keeps_one_summation_order_at_every_width()
    {
        foreach (var m in Orders.Concat([32, 48, 60, 100, 256]))
        {
            var a = Samples(m + 1, seed: m);
            var b = Samples(m + 1, seed: m + 500);

            // The documented order, written out: group t of four terms into accumulator t mod 4 (four lanes each),
            // ((acc0 + acc1) + (acc2 + acc3)) per lane, then (lane0 + lane2) + (lane1 + lane3), then the tail by FMAs.
            var acc = new double[4, 4];
            var groups = m / 4;
            for (var t = 0; t < groups; t++)
            {
                for (var lane = 0; lane < 4; lane++)
                {
                    acc[t % 4, lane] = Math.FusedMultiplyAdd(a[4 * t + lane], b[4 * t + lane], acc[t % 4, lane]);
                }
            }

            var s = new double[4];
            for (var lane = 0; lane < 4; lane++)
            {
                s[lane] = (acc[0, lane] + acc[1, lane]) + (acc[2, lane] + acc[3, lane]);
            }

            var expected = (s[0] + s[2]) + (s[1] + s[3]);
            for (var k = 4 * groups; k < m; k++)
            {
                expected = Math.FusedMultiplyAdd(a[k], b[k], expected);
            }

            Assert.Equal(Bits(expected), Bits(VectorKernels.Dot<QuadWidth256, Vector256<double>>(ref a[0], ref b[0], m)));
            Assert.Equal(Bits(expected), Bits(VectorKernels.Dot<QuadWidth128, Vector128Pair>(ref a[0], ref b[0], m)));
            Assert.Equal(Bits(expected), Bits(VectorKernels.Dot<QuadWidthScalar, ScalarQuad>(ref a[0], ref b[0], m)));
            Assert.Equal(Bits(expected), Bits(VectorKernels.Dot(ref a[0], ref b[0], m)));
        }
    }

    [Fact]
    public void AddScaled_and_Fir_are_the_same_at_every_width()
    {
        foreach (var m in Orders)
        {
            var u = Samples(m, seed: 3 * m);
            var w = Samples(m, seed: 5 * m);
            const double c = -0.3183098861837907;
            var expected = w.Select((x, k) => k < m ? Math.FusedMultiplyAdd(c, u[k], x) : x).ToArray();
            AssertBits(expected, Scaled(w, r => VectorKernels.AddScaled<QuadWidth256, Vector256<double>>(ref r[0], c, ref u[0], m)), $"256 m={m}");
            AssertBits(expected, Scaled(w, r => VectorKernels.AddScaled<QuadWidth128, Vector128Pair>(ref r[0], c, ref u[0], m)), $"128 m={m}");
            AssertBits(expected, Scaled(w, r => VectorKernels.AddScaled<QuadWidthScalar, ScalarQuad>(ref r[0], c, ref u[0], m)), $"scalar quads m={m}");
            AssertBits(expected, Scaled(w, r => VectorKernels.AddScaledScalar(ref r[0], c, ref u[0], 0, m)), $"scalar m={m}");

            foreach (var count in Counts)
            {
                var h = Samples(m, seed: 11 * m);
                var z = Samples(count + m, seed: 13 * m + count);
                var fir = new double[count];
                for (var i = 0; i < count; i++)
                {
                    double a = 0;
                    for (var j = 0; j < m; j++)
                    {
                        a = Math.FusedMultiplyAdd(h[j], z[i + j], a);
                    }

                    fir[i] = a;
                }

                AssertBits(fir, Run(count, y => VectorKernels.Fir<QuadWidth256, Vector256<double>>(ref h[0], m, ref z[0], count, ref y[0])), $"fir 256 m={m} n={count}");
                AssertBits(fir, Run(count, y => VectorKernels.Fir<QuadWidth128, Vector128Pair>(ref h[0], m, ref z[0], count, ref y[0])), $"fir 128 m={m} n={count}");
                AssertBits(fir, Run(count, y => VectorKernels.Fir<QuadWidthScalar, ScalarQuad>(ref h[0], m, ref z[0], count, ref y[0])), $"fir scalar quads m={m} n={count}");
                AssertBits(fir, Run(count, y => VectorKernels.FirScalar(ref h[0], m, ref z[0], 0, count, ref y[0])), $"fir scalar m={m} n={count}");
                AssertBits(fir, Run(count, y => VectorKernels.Fir(ref h[0], m, ref z[0], count, ref y[0])), $"fir best m={m} n={count}");
            }
        }
    }

    private delegate void Kernel(double[] result);

    private delegate void Correlate(ref double z, int count, int m, ref double energy, ref double lag1, ref double lag2);

    // One spare element, so a count of 0 still has an element to take a reference to.
    private static double[] Run(int count, Kernel kernel)
    {
        var result = new double[count + 1];
        kernel(result);
        return result[..count];
    }

    private static double[] Scaled(double[] w, Kernel kernel)
    {
        var copy = (double[])w.Clone();
        kernel(copy);
        return copy;
    }

    private static double[] Samples(int length, int seed)
    {
        var random = new Random(seed);
        // One spare element: kernels take a reference to element 0 even when they read nothing.
        return [.. Enumerable.Range(0, length + 1).Select(_ => (random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-8, 8)))];
    }

    private static long Bits(double value) => BitConverter.DoubleToInt64Bits(value);

    private static void AssertBits(double[] expected, double[] actual, string what)
    {
        for (var i = 0; i < Math.Min(expected.Length, actual.Length); i++)
        {
            Assert.True(Bits(expected[i]) == Bits(actual[i]), $"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}");
        }
    }
}
