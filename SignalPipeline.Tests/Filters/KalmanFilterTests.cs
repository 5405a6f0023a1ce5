using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

public sealed class KalmanFilterTests
{
    [Fact]
    public void Matches_hand_derived_values()
    {
        // q = 1, r = 1, x0 = 0, p0 = 0: k = 1/2, 3/5, 8/13; x = 1, 1 + 0.6 * 3 = 2.8, 2.8 * 5/13.
        var y = Signals.Run("kalman", [2, 4, 0], new() { ["q"] = 1, ["r"] = 1, ["x0"] = 0, ["p0"] = 0 });
        Assert.Equal(1, y[0], 15);
        Assert.Equal(2.8, y[1], 14);
        Assert.Equal(2.8 * 5 / 13, y[2], 14);
    }

    [Theory]
    [InlineData(1e-5, 0.01, 0, 1)]
    [InlineData(1e-3, 1, 5, 0)]
    [InlineData(0.5, 0.1, -2, 100)]
    [InlineData(1e-9, 10, 0, 1)]
    public void Matches_reference_on_long_noisy_signal(double q, double r, double x0, double p0)
    {
        var z = Signals.Noisy(100_000, seed: 11);
        var expected = ReferenceFilters.Kalman(z, q, r, x0, p0);
        var actual = Signals.Run("kalman", z, new() { ["q"] = q, ["r"] = r, ["x0"] = x0, ["p0"] = p0 });
        Signals.AssertClose(expected, actual, 1e-12, Signals.Rms(z));
    }

    /// <summary>
    /// docs/filters.md (kalman, "Implementation"): the sample from which p sits at its floating-point fixed point, and the
    /// filter runs its steady-state form, as quoted there per parameter set (n from 0; seen through ErrorVariance, one
    /// sample at a time). That takes the filter's time constant, about sqrt(r / q) samples, not always "a few hundred" as
    /// the page said until 2026-12-06; past it the outputs still match the formulas (the long noisy test above ends inside
    /// the transient for (1e-9, 10)).
    /// </summary>
    [Theory]
    [InlineData(1e-5, 0.01, 547)]
    [InlineData(0.5, 0.1, 12)]
    [InlineData(1e-9, 10, 1_349_456)]
    public void The_error_variance_settles_at_the_sample_the_doc_quotes_and_the_steady_state_matches_the_formulas(double q, double r, int settled)
    {
        var z = Signals.Noisy(settled + 1000, seed: 3);
        var y = new double[z.Length];
        var filter = new KalmanFilter(new KalmanParameters(Q: q, R: r));
        var lastChange = -1; // the last sample that changed p
        for (var n = 0; n < z.Length; n++)
        {
            var before = filter.ErrorVariance;
            filter.Process(z.AsSpan(n, 1), y.AsSpan(n, 1));
            if (filter.ErrorVariance != before)
            {
                lastChange = n;
            }
        }

        Assert.Equal(settled - 1, lastChange);
        Signals.AssertClose(ReferenceFilters.Kalman(z, q, r, 0, 1), y, 1e-12, Signals.Rms(z));
    }

    /// <summary>
    /// docs/filters.md (kalman, "Parameters near the range of a double"): while p + q + r stays within the range of a double
    /// the gain is in [0, 1] and the output finite, however large q and r are; past it the gain is 0 for one sample (the
    /// input ignored) and NaN from the next, and p0 + q past it gives NaN at once.
    /// </summary>
    [Fact]
    public void Parameters_take_the_output_beyond_a_double_only_once_p_plus_q_plus_r_overflows()
    {
        var large = Signals.Run("kalman", [1, 2, 3, 4], new() { ["q"] = 1e200, ["r"] = 1e200 });
        Assert.Equal(0.5, large[0]); // k = 1e200 / 2e200
        Assert.All(large, y => Assert.True(double.IsFinite(y)));

        var over = Signals.Run("kalman", [1, 2], new() { ["q"] = 1e308, ["r"] = 1e308 });
        Assert.Equal(0, over[0]); // p + q + r infinite: k = 1e308 / inf = 0, y = x0
        Assert.True(double.IsNaN(over[1])); // p + q infinite: k = inf / inf

        var first = Signals.Run("kalman", [1], new() { ["q"] = 1e300, ["p0"] = double.MaxValue });
        Assert.True(double.IsNaN(first[0]));
    }

    [Fact]
    public void With_negligible_process_noise_converges_to_the_mean()
    {
        // q must be > 0; double.Epsilon is absorbed by p + q, so this is the q = 0 filter: a running mean.
        var random = new Random(5);
        var z = Enumerable.Range(0, 100_000).Select(_ => 7.25 + Signals.Gaussian(random)).ToArray();
        var y = Signals.Run("kalman", z, new() { ["q"] = double.Epsilon, ["r"] = 1, ["p0"] = 1e12 });
        Assert.Equal(z.Average(), y[^1], 9);
    }
}
