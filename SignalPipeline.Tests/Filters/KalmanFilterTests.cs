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
