namespace SignalPipeline.Tests.Filters;

public sealed class RlsFilterTests
{
    [Fact]
    public void Matches_hand_derived_values()
    {
        // order 1, lambda = 1, delta = 1 on 1, 2, 3, 4: P = 1, 1/2, 1/6; w = 0, 1, 4/3; y = w z(n-1).
        var y = Signals.Run("rls", [1, 2, 3, 4], new() { ["order"] = 1, ["lambda"] = 1, ["delta"] = 1 });
        Assert.Equal(new[] { 0, 0, 2, 4.0 }, y.Select(v => Math.Round(v, 12)));
    }

    [Theory]
    [InlineData(8, 0.99, 0.01)]
    [InlineData(1, 0.95, 1)]
    [InlineData(3, 1, 0.1)]
    [InlineData(16, 0.999, 0.01)]
    [InlineData(64, 0.995, 0.01)]
    public void Matches_reference_on_long_noisy_signal(int order, double lambda, double delta)
    {
        var length = order >= 32 ? 20_000 : 100_000;
        var z = Signals.Noisy(length, seed: 31);
        var expected = ReferenceFilters.Rls(z, order, lambda, delta);
        var actual = Signals.Run("rls", z, new() { ["order"] = order, ["lambda"] = lambda, ["delta"] = delta });
        Signals.AssertClose(expected, actual, 1e-9, Signals.Rms(z));
    }

    [Fact]
    public void Stays_stable_at_lambda_0_99_on_a_long_signal()
    {
        var z = Signals.Noisy(200_000, seed: 32);
        var y = Signals.Run("rls", z, new() { ["order"] = 8, ["lambda"] = 0.99 });
        Assert.All(y, v => Assert.True(double.IsFinite(v)));
        var error = Math.Sqrt(Enumerable.Range(100_000, 100_000).Average(n => (z[n] - y[n]) * (z[n] - y[n])));
        Assert.True(error < 1, $"RMS prediction error {error} (noise 0.5): the filter has diverged");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(64)]
    public void A_long_silence_does_not_overflow_P_and_the_filter_adapts_afterwards(int order)
    {
        // 100,000 zeros grow an unbounded P by 0.99^-100000 (about 1e436): it overflows near 70,000 and every later
        // output is NaN. The bound pauses forgetting instead; the signal after the silence is then learned as usual.
        var signal = Signals.Noisy(30_000, seed: 33);
        var z = new double[100_000].Concat(signal).ToArray();
        var y = Signals.Run("rls", z, new() { ["order"] = order, ["lambda"] = 0.99 });
        Assert.All(y, v => Assert.True(double.IsFinite(v)));
        var error = Math.Sqrt(Enumerable.Range(z.Length - 10_000, 10_000).Average(n => (z[n] - y[n]) * (z[n] - y[n])));
        Assert.True(error < 1, $"RMS prediction error {error} (noise 0.5) after the silence: the filter has not adapted");
    }

    [Fact]
    public void Converges_on_a_noiseless_autoregressive_process()
    {
        var z = Enumerable.Range(0, 5_000).Select(n => Math.Sin(0.3 * n) + 0.5 * Math.Sin(1.1 * n + 0.4)).ToArray();
        var y = Signals.Run("rls", z, new() { ["order"] = 4, ["lambda"] = 0.99 });
        var tail = Enumerable.Range(4_000, 1000).Max(n => Math.Abs(z[n] - y[n]));
        Assert.True(tail < 1e-8, $"prediction error over the last 1000 samples {tail:E2}");
    }
}
