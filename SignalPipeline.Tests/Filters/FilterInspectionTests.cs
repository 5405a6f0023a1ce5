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
}
