namespace SignalPipeline.Tests.Filters;

public sealed class LsFilterTests
{
    [Fact]
    public void Matches_hand_derived_values()
    {
        // window 3, degree 1: L = 1 and 2 interpolate; L = 3 fits a line: y = -z0/6 + z1/3 + 5 z2/6.
        var y = Signals.Run("ls", [1, 2, 4, 8], new() { ["window"] = 3, ["degree"] = 1 });
        Assert.Equal(new[] { 1, 2, 23 / 6.0, 23 / 3.0 }.Select(v => Math.Round(v, 12)), y.Select(v => Math.Round(v, 12)));

        // window 2, degree 0: the mean of the last two samples.
        var mean = Signals.Run("ls", [1, 2, 4, 8], new() { ["window"] = 2, ["degree"] = 0 });
        Assert.Equal(new[] { 1, 1.5, 3, 6 }, mean);
    }

    [Theory]
    [InlineData(31, 2, 100_000)]
    [InlineData(2, 1, 10_000)]
    [InlineData(8, 3, 20_000)]
    [InlineData(101, 5, 10_000)]
    [InlineData(257, 10, 3_000)]
    [InlineData(5, 0, 10_000)]
    public void Matches_reference_on_long_noisy_signal(int window, int degree, int length)
    {
        var z = Signals.Noisy(length, seed: 41);
        var expected = ReferenceFilters.Ls(z, window, degree);
        var actual = Signals.Run("ls", z, new() { ["window"] = window, ["degree"] = degree });
        Signals.AssertClose(expected, actual, 1e-9, Signals.Rms(z));
    }

    [Theory]
    [InlineData(31, 2)]
    [InlineData(7, 6)]
    [InlineData(64, 4)]
    [InlineData(1025, 10)]
    public void Returns_a_polynomial_of_the_fitted_degree_exactly(int window, int degree)
    {
        var random = new Random(window * 100 + degree);
        var coefficients = Enumerable.Range(0, degree + 1).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var length = 3 * window;
        var z = Enumerable.Range(0, length).Select(n => Polynomial(coefficients, n / (double)length)).ToArray();
        var y = Signals.Run("ls", z, new() { ["window"] = window, ["degree"] = degree });
        Signals.AssertClose(z, y, 1e-9, Signals.Rms(z));
    }

    private static double Polynomial(double[] coefficients, double t)
    {
        double value = 0;
        for (var i = coefficients.Length - 1; i >= 0; i--)
        {
            value = value * t + coefficients[i];
        }

        return value;
    }
}
