using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

public sealed class LmsFilterTests
{
    [Fact]
    public void Matches_hand_derived_values()
    {
        // order 1, mu = 1, eps = 1 on 1, 2, 3, 4: w = 0, 0, 2/2 = 1, 1 + (1/5) 2 = 1.4; y = w z(n-1).
        var y = Signals.Run("lms", [1, 2, 3, 4], new() { ["order"] = 1, ["mu"] = 1, ["eps"] = 1 });
        Assert.Equal(new[] { 0, 0, 2, 4.2 }, y.Select(v => Math.Round(v, 12)));
    }

    [Theory]
    [InlineData(16, 0.1, 1e-6)]
    [InlineData(1, 0.5, 1e-3)]
    [InlineData(4, 0.3, 1e-6)]
    [InlineData(8, 1, 1e-6)]
    [InlineData(12, 0.1, 1e-6)]
    [InlineData(5, 1.5, 1e-6)]
    [InlineData(64, 0.05, 1)]
    [InlineData(256, 0.2, 1e-6)]
    public void Matches_reference_on_long_noisy_signal(int order, double mu, double eps)
    {
        var z = Signals.Noisy(100_000, seed: 21);
        var expected = ReferenceFilters.Lms(z, order, mu, eps);
        var actual = Signals.Run("lms", z, new() { ["order"] = order, ["mu"] = mu, ["eps"] = eps });
        Signals.AssertClose(expected, actual, 1e-9, Signals.Rms(z));
    }

    [Fact]
    public void Converges_on_a_noiseless_autoregressive_process()
    {
        // Two sinusoids obey an exact AR(4) recursion, so a predictor of order >= 4 can drive the error to zero.
        var z = Enumerable.Range(0, 40_000).Select(n => Math.Sin(0.3 * n) + 0.5 * Math.Sin(1.1 * n + 0.4)).ToArray();
        var y = Signals.Run("lms", z, new() { ["order"] = 8, ["mu"] = 0.5 });
        var tail = Enumerable.Range(39_000, 1000).Max(n => Math.Abs(z[n] - y[n]));
        var head = Enumerable.Range(0, 1000).Max(n => Math.Abs(z[n] - y[n]));
        Assert.True(tail < 1e-3 && tail < head / 100, $"prediction error: first 1000 samples {head:E2}, last 1000 {tail:E2}");
    }
    /// <summary>
    /// docs/filters.md and docs/filter-api.md (422): an input into empty taps makes the step size c = mu z / eps, which
    /// leaves the range of a double above about 1.8e303 with the defaults (mu 0.1, eps 1e-6), while that sample's output
    /// (0) is finite; the pages said "near 1e300" until 2026-12-06, where c is a finite 1e305.
    /// </summary>
    [Theory]
    [InlineData(1e303, true)]
    [InlineData(1.7e303, true)]
    [InlineData(1.9e303, false)]
    [InlineData(1e306, false)]
    public void One_input_into_empty_taps_leaves_a_non_finite_state_above_the_size_the_doc_quotes(double sample, bool finite)
    {
        var filter = FilterFactory.Create("lms");
        var output = new double[1];

        filter.Process([sample], output);

        Assert.Equal(0, output[0]);
        Assert.Equal(finite, filter.StateIsFinite);
    }
}
