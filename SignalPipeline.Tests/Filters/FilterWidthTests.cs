using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

/// <summary>
/// rls and lms run their register kernels and vector loops at each width (256-bit, 128-bit as two Vector128 per quad,
/// scalar) in this process, whatever the machine accelerates, and every width gives the output of the others bit for
/// bit (docs/filters.md, "Vector widths"); a state saved at one width continues bit-identically at another, as it would
/// when restored on a machine of another width. <see cref="KernelFallbackTests"/> runs the real dispatch in children.
/// </summary>
public sealed class FilterWidthTests
{
    private static readonly VectorWidth[] Widths = [VectorWidth.Vector256, VectorWidth.Vector128, VectorWidth.Scalar];

    // rls: 8 takes the unrolled register kernel; the others the general loop (padding 0 to 3, one to four quads of columns).
    // lms: 4, 8, 12, 16 take the in-register kernels, the others the in-memory loop.
    public static TheoryData<string, int> Orders() => new()
    {
        { "rls", 8 }, { "rls", 1 }, { "rls", 3 }, { "rls", 16 }, { "rls", 30 }, { "rls", 64 },
        { "lms", 4 }, { "lms", 8 }, { "lms", 12 }, { "lms", 16 }, { "lms", 1 }, { "lms", 7 }, { "lms", 33 }, { "lms", 256 },
    };

    [Theory]
    [MemberData(nameof(Orders))]
    public void Every_width_gives_the_same_bits(string algorithm, int order)
    {
        var z = Signals.Noisy(3000, seed: order);
        var expected = Run(algorithm, order, VectorWidth.Vector256, z);
        foreach (var width in Widths[1..])
        {
            AssertBits(expected, Run(algorithm, order, width, z), $"{algorithm}({order}) at {width}");
        }
    }

    [Theory]
    [MemberData(nameof(Orders))]
    public void A_state_saved_at_one_width_continues_bit_identically_at_another(string algorithm, int order)
    {
        var z = Signals.Noisy(2500, seed: 100 + order);
        var expected = Run(algorithm, order, VectorWidth.Vector256, z);
        foreach (var (from, to) in new[] { (VectorWidth.Vector256, VectorWidth.Vector128), (VectorWidth.Vector128, VectorWidth.Scalar), (VectorWidth.Scalar, VectorWidth.Vector256) })
        {
            var first = Create(algorithm, order, from);
            var y = new double[z.Length];
            const int split = 1234;
            first.Process(z.AsSpan(0, split), y.AsSpan(0, split));
            var second = FilterFactory.Restore(first.SaveState(), algorithm);
            SetWidth(second, to);
            second.Process(z.AsSpan(split), y.AsSpan(split));
            AssertBits(expected, y, $"{algorithm}({order}) saved at {from}, continued at {to}");
        }
    }

    [Fact]
    public void The_filters_run_at_the_chosen_width_by_default()
    {
        Assert.Equal(VectorKernels.Best, ((RlsFilter)FilterFactory.Create("rls", null)).Width);
        Assert.Equal(VectorKernels.Best, ((LmsFilter)FilterFactory.Create("lms", null)).Width);
    }

    private static double[] Run(string algorithm, int order, VectorWidth width, double[] z)
        => Signals.Run(Create(algorithm, order, width), z);

    private static IStreamFilter Create(string algorithm, int order, VectorWidth width)
    {
        var filter = FilterFactory.Create(algorithm, new Dictionary<string, double> { ["order"] = order });
        SetWidth(filter, width);
        return filter;
    }

    private static void SetWidth(IStreamFilter filter, VectorWidth width)
    {
        switch (filter)
        {
            case RlsFilter rls: rls.Width = width; break;
            case LmsFilter lms: lms.Width = width; break;
            default: throw new ArgumentException($"No width to set on {filter.Algorithm}.", nameof(filter));
        }
    }

    private static void AssertBits(double[] expected, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(
                BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]),
                $"{what}: sample {i} is {actual[i]:R}, expected {expected[i]:R}");
        }
    }
}
