using SignalPipeline.Cli.Bench;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>The pure parts of <c>bench --scenario mixed</c>: which stream runs what, the target's arithmetic, the output check.</summary>
public sealed class MixedBenchTests
{
    private static readonly MixedCase Mix = MixedCase.All.Single(c => c.IsMix);

    [Fact]
    public void TheMixGivesEachAlgorithmAQuarterOfTheStreamsAndEveryPartitionAllFour()
    {
        const int streams = MixedBench.Streams;
        var algorithms = Enumerable.Range(0, streams).Select(s => Mix.AlgorithmOf(s, streams)).ToArray();

        Assert.Equal(["kalman", "rls", "ls", "lms"], Mix.Algorithms);
        Assert.All(Mix.Algorithms, a => Assert.Equal(streams / 4, algorithms.Count(x => x == a)));
        foreach (var partitions in new[] { 8, 32 })
        {
            // The load puts stream i on input partition i mod partitions: each partition (and so each batch) must be mixed.
            Assert.All(Enumerable.Range(0, partitions), p =>
                Assert.Equal(4, algorithms.Where((_, s) => s % partitions == p).Distinct().Count()));
        }

        Assert.All(MixedCase.All.Where(c => !c.IsMix), c =>
            Assert.All(Enumerable.Range(0, streams), s => Assert.Equal(c.Algorithms[0], c.AlgorithmOf(s, streams))));
    }

    [Fact]
    public void TheExpectedRateAddsEachMembersTimePerSampleByItsShare()
    {
        // A quarter each at 1, 2, 4 and 4 M samples/s: 0.25 µs + 0.125 + 0.0625 + 0.0625 = 0.5 µs per sample, i.e. 2 M samples/s.
        var rates = new Dictionary<string, double> { ["kalman"] = 1e6, ["rls"] = 2e6, ["ls"] = 4e6, ["lms"] = 4e6 };
        Assert.Equal(2e6, MixedReport.ExpectedRate(Mix, 1000, rates)!.Value, 6);

        // Measured at 2.5 M the mix costs 0.8 of the expected, and 0.4 of all streams on its slowest member (kalman here).
        var (toExpected, toSlowest) = MixedReport.CostRatios(Mix, 1000, 2.5e6, rates);
        Assert.Equal(0.8, toExpected!.Value, 9);
        Assert.Equal(0.4, toSlowest!.Value, 9);

        // Equal rates: the mix is expected at the same rate.
        var equal = rates.Keys.ToDictionary(k => k, _ => 3e6);
        Assert.Equal(3e6, MixedReport.ExpectedRate(Mix, 1000, equal)!.Value, 6);
    }

    [Fact]
    public void AMissingMemberRateGivesNoExpectation()
    {
        var rates = new Dictionary<string, double> { ["kalman"] = 1e6, ["rls"] = 2e6, ["ls"] = 4e6 };
        Assert.Null(MixedReport.ExpectedRate(Mix, 1000, rates));
        Assert.Equal((null, null), MixedReport.CostRatios(Mix, 1000, 1e6, rates));
    }

    [Fact]
    public void OutputSeqsTellsNextDuplicateAndGapAndWhichStreamsAreShort()
    {
        var seqs = new OutputSeqs(3);
        Assert.Equal(SeqOutcome.Next, seqs.Record(0, 0));
        Assert.Equal(SeqOutcome.Next, seqs.Record(0, 1));
        Assert.Equal(SeqOutcome.Duplicate, seqs.Record(0, 1));
        Assert.Equal(SeqOutcome.Duplicate, seqs.Record(0, 0));
        Assert.Equal(SeqOutcome.Gap, seqs.Record(1, 2));
        Assert.Equal(SeqOutcome.Next, seqs.Record(1, 3));

        Assert.True(seqs.Has(0, 1));
        Assert.False(seqs.Has(0, 2));
        Assert.False(seqs.Has(2, 0));

        // Seqs 0..1 of every stream: stream 2 has none; 0..3: stream 0 is short too.
        Assert.Equal(1, seqs.StreamsShort(2));
        Assert.Equal(2, seqs.StreamsShort(4));
    }

    [Fact]
    public void CpuSecondsReadsThisProcessesCpuTimeWhichGrowsWhileItWorks()
    {
        if (!File.Exists($"/proc/{Environment.ProcessId}/stat"))
        {
            Assert.True(double.IsNaN(MixedBench.CpuSeconds(Environment.ProcessId)));
            return;
        }

        var before = MixedBench.CpuSeconds(Environment.ProcessId);
        Assert.True(before > 0, $"{before}");

        // Spin until the process has used 50 ms more CPU (bounded: a wrong field would stay put).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var x = 0.0;
        while (MixedBench.CpuSeconds(Environment.ProcessId) < before + 0.05 && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            for (var i = 0; i < 100_000; i++)
            {
                x += Math.Sqrt(i);
            }
        }

        Assert.True(MixedBench.CpuSeconds(Environment.ProcessId) >= before + 0.05, $"{x}");
    }
}
