using SignalPipeline.Filters;

namespace SignalPipeline.Tests.Filters;

/// <summary>The readable state: it predicts what the filter does with the next sample, and a retune keeps what it says.</summary>
public sealed class FilterInspectionTests
{
    private static double[] Signal(int n, int seed) => [.. Enumerable.Range(0, n).Select(i => Math.Sin(i * 0.07 + seed) + 0.3 * Math.Cos(i * 0.31 * seed))];

    [Theory]
    [InlineData("rls", 6)]
    [InlineData("lms", 4)]
    [InlineData("lms", 7)]
    public void TheWeightsPredictTheNextOutput(string algorithm, int order)
    {
        var filter = FilterFactory.Create(algorithm, new Dictionary<string, double> { ["order"] = order });
        var signal = Signal(301, order);
        filter.Process(signal.AsSpan(0, 300), new double[300]);

        var weights = ((IInspectableFilter)filter).Inspect().Vectors["weights"];
        var predicted = 0.0;
        for (var j = 0; j < order; j++)
        {
            predicted += weights[j] * signal[299 - j]; // weights[0] multiplies z(n-1)
        }

        var next = new double[1];
        filter.Process(signal.AsSpan(300, 1), next);
        Assert.Equal(order, weights.Length);
        Assert.True(Math.Abs(next[0] - predicted) <= 1e-9 * Math.Max(1, Math.Abs(predicted)), $"{algorithm}: output {next[0]}, weights predict {predicted}");
    }

    [Fact]
    public void KalmansGainIsTheOneTheNextSampleGets()
    {
        var filter = FilterFactory.Create("kalman", new Dictionary<string, double> { ["q"] = 1e-3, ["r"] = 0.1 });
        filter.Process(Signal(5, 1), new double[5]);
        var view = ((IInspectableFilter)filter).Inspect();
        var next = new double[1];
        filter.Process([2.0], next);
        var expected = Math.FusedMultiplyAdd(view.Values["gain"], 2.0 - view.Values["estimate"], view.Values["estimate"]);
        Assert.Equal(expected, next[0], 12);
        Assert.Equal(new Dictionary<string, double> { ["q"] = 1e-3, ["r"] = 0.1, ["x0"] = 0, ["p0"] = 1 }, view.Parameters);
    }

    [Fact]
    public void LsShowsItsWindowFill()
    {
        var filter = FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 9 });
        filter.Process(Signal(4, 2), new double[4]);
        Assert.Equal(4, ((IInspectableFilter)filter).Inspect().Values["windowFill"]);
        filter.Process(Signal(20, 2), new double[20]);
        Assert.Equal(9, ((IInspectableFilter)filter).Inspect().Values["windowFill"]);
    }

    [Fact]
    public void ARetuneKeepsTheLearnedStateWhenTheShapeAllowsAndRefusesOtherwise()
    {
        var rls = FilterFactory.Create("rls", new Dictionary<string, double> { ["order"] = 4 });
        rls.Process(Signal(100, 3), new double[100]);
        var retuned = FilterInspector.Retune(rls.SaveState(), new Dictionary<string, double> { ["order"] = 4, ["lambda"] = 0.9 });
        Assert.NotNull(retuned);
        var before = ((IInspectableFilter)rls).Inspect();
        var after = ((IInspectableFilter)retuned).Inspect();
        Assert.Equal(before.Vectors["weights"], after.Vectors["weights"]);
        Assert.Equal((100L, 0.9), (after.SamplesProcessed, after.Parameters["lambda"]));

        Assert.Null(FilterInspector.Retune(rls.SaveState(), new Dictionary<string, double> { ["order"] = 5 }));
        Assert.Throws<FilterParameterException>(() => FilterInspector.Retune(rls.SaveState(), new Dictionary<string, double> { ["lambda"] = 2 }));

        // Each value in its range, but not together: refused as Create refuses it, not taken for a state that does not fit.
        var ls = FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 5, ["degree"] = 2 });
        ls.Process(Signal(20, 1), new double[20]);
        var error = Assert.Throws<FilterParameterException>(() => FilterInspector.Retune(ls.SaveState(), new Dictionary<string, double> { ["window"] = 5, ["degree"] = 7 }));
        Assert.Contains("degree", error.Message);
    }

    // docs/filters.md: FilterInspector.Retune keeps what the filter learned; after it the filter continues as one built by
    // hand with the same state and the new parameters would, bit for bit.

    [Fact]
    public void A_retuned_kalman_continues_as_a_filter_started_at_its_estimate_and_error_variance()
    {
        var signal = Signals.Noisy(3000, seed: 8);
        var filter = FilterFactory.Create("kalman", new Dictionary<string, double> { ["q"] = 1e-3, ["r"] = 0.1, ["x0"] = 0.5, ["p0"] = 2 });
        filter.Process(signal.AsSpan(0, 40), new double[40]);
        var (x, p) = (((KalmanFilter)filter).Estimate, ((KalmanFilter)filter).ErrorVariance);

        // x0 and p0 unset: they take their defaults, not the state's 0.5 and 2 (which no longer matter to the recursion).
        var retuned = FilterInspector.Retune(filter.SaveState(), new Dictionary<string, double> { ["q"] = 1e-2, ["r"] = 0.5 });
        Assert.NotNull(retuned);
        Assert.Equal(new Dictionary<string, double> { ["q"] = 1e-2, ["r"] = 0.5, ["x0"] = 0, ["p0"] = 1 }, ((IInspectableFilter)retuned).Inspect().Parameters);
        Assert.Equal(40, retuned.SamplesProcessed);
        Assert.Equal(filter.SaveState()[^28..^4], retuned.SaveState()[^28..^4]); // x, previous x, p

        // By hand: the new q and r from x and p. The 2960 samples run well past the sample where p settles for them.
        var byHand = new KalmanFilter(new KalmanParameters(Q: 1e-2, R: 0.5, X0: x, P0: p));
        var rest = signal[40..];
        var expected = Signals.Run(byHand, rest);
        AssertBitIdentical(expected, Signals.Run(retuned, rest));
        Assert.NotEqual(Signals.Run(filter, rest), expected);
    }

    [Fact]
    public void A_kalman_retuned_to_its_own_q_and_r_keeps_x_its_last_estimate_and_p_and_goes_on_bit_for_bit()
    {
        // Past sample 547 the default filter runs its steady state, which reads x one sample earlier: the retune keeps it
        // (its effect is below an ulp on most samples, so the snapshot's three values are compared as well as the outputs).
        var signal = Signals.Noisy(2000, seed: 9);
        var filter = FilterFactory.Create("kalman");
        filter.Process(signal.AsSpan(0, 1000), new double[1000]);
        var state = filter.SaveState();
        var retuned = FilterInspector.Retune(state, new Dictionary<string, double> { ["x0"] = 7, ["p0"] = 3 });
        Assert.NotNull(retuned);
        Assert.Equal(state[^28..^4], retuned.SaveState()[^28..^4]); // x, previous x, p
        var rest = signal[1000..];
        AssertBitIdentical(Signals.Run(filter, rest), Signals.Run(retuned, rest));
    }

    [Theory]
    [InlineData("lms", 4, "mu", 1.2)]
    [InlineData("lms", 5, "eps", 10.0)]
    [InlineData("rls", 4, "lambda", 0.9)]
    public void A_retuned_lms_or_rls_continues_as_its_state_with_the_new_parameter_written_in_by_hand(string algorithm, int order, string name, double value)
    {
        var descriptor = FilterFactory.Algorithms.Single(a => a.Name == algorithm);
        var signal = Signals.Noisy(3000, seed: order);
        var filter = FilterFactory.Create(algorithm, new Dictionary<string, double> { ["order"] = order });
        filter.Process(signal.AsSpan(0, 500), new double[500]);
        var state = filter.SaveState();

        var retuned = FilterInspector.Retune(state, new Dictionary<string, double> { ["order"] = order, [name] = value });
        Assert.NotNull(retuned);
        Assert.Equal(((IInspectableFilter)filter).Inspect().Vectors["weights"], ((IInspectableFilter)retuned).Inspect().Vectors["weights"]);

        // By hand: the same snapshot with the one parameter's float64 replaced (the format's table), CRC recomputed.
        var index = descriptor.Parameters.ToList().FindIndex(p => p.Name == name);
        var byHand = FilterFactory.Restore(StateBytes.Forge(state, s => StateBytes.WriteDouble(s, StateBytes.Value(index), value)), algorithm);
        var rest = signal[500..];
        var expected = Signals.Run(byHand, rest);
        AssertBitIdentical(expected, Signals.Run(retuned, rest));

        // The first output after the retune comes from the kept state alone (rls: w.u; lms: w(n-2) and the pending
        // corrections c(n-2), c(n-1), computed with the old parameters), so it is the old filter's; the next are not.
        var unchanged = Signals.Run(filter, rest);
        Assert.Equal(BitConverter.DoubleToInt64Bits(unchanged[0]), BitConverter.DoubleToInt64Bits(expected[0]));
        Assert.NotEqual(unchanged, expected);
    }

    [Fact]
    public void A_retuned_ls_continues_as_a_new_ls_of_the_new_degree_fed_the_same_samples()
    {
        var signal = Signals.Noisy(2000, seed: 4);
        var filter = FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 9, ["degree"] = 2 });
        filter.Process(signal.AsSpan(0, 100), new double[100]);
        var retuned = FilterInspector.Retune(filter.SaveState(), new Dictionary<string, double> { ["window"] = 9, ["degree"] = 4 });
        Assert.NotNull(retuned);

        var byHand = FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 9, ["degree"] = 4 });
        byHand.Process(signal.AsSpan(0, 100), new double[100]);
        var rest = signal[100..];
        var expected = Signals.Run(byHand, rest);
        AssertBitIdentical(expected, Signals.Run(retuned, rest));
        Assert.NotEqual(Signals.Run(filter, rest), expected);
    }

    [Theory]
    [InlineData("rls", "order", 4, "lambda", 0.9)] // order's default is 8
    [InlineData("lms", "order", 4, "mu", 0.5)] // 16
    [InlineData("ls", "window", 9, "degree", 1)] // 31
    public void A_retune_that_leaves_the_shape_parameter_unset_takes_its_default_and_so_returns_null(string algorithm, string shape, int size, string name, double value)
    {
        var filter = FilterFactory.Create(algorithm, new Dictionary<string, double> { [shape] = size });
        filter.Process(Signal(50, 2), new double[50]);
        Assert.Null(FilterInspector.Retune(filter.SaveState(), new Dictionary<string, double> { [name] = value }));
        Assert.NotNull(FilterInspector.Retune(filter.SaveState(), new Dictionary<string, double> { [shape] = size, [name] = value }));
    }

    private static void AssertBitIdentical(double[] expected, double[] actual)
        => Assert.Equal(expected.Select(BitConverter.DoubleToInt64Bits), actual.Select(BitConverter.DoubleToInt64Bits));
}
