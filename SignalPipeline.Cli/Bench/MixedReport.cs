using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using SignalPipeline.Filters;

namespace SignalPipeline.Cli.Bench;

/// <summary>The mixed scenario's markdown section (its own markers), and the arithmetic of its target.</summary>
public static class MixedReport
{
    public const string BeginMarker = "<!-- bench-mixed:begin (written by `signal-pipeline bench --scenario mixed`; edits inside are overwritten) -->";
    public const string EndMarker = "<!-- bench-mixed:end -->";

    /// <summary>
    /// The rate a mix would have if each stream cost what it costs when all streams run its algorithm: a sample of
    /// algorithm i takes 1 / rate_i, so a mix with shares s_i takes Σ s_i / rate_i per sample. Null when a member has no rate.
    /// </summary>
    public static double? ExpectedRate(MixedCase mix, int streams, IReadOnlyDictionary<string, double> rates)
    {
        var seconds = 0.0;
        foreach (var group in Enumerable.Range(0, streams).GroupBy(s => mix.AlgorithmOf(s, streams)))
        {
            if (!rates.TryGetValue(group.Key, out var rate) || !(rate > 0))
            {
                return null;
            }

            seconds += (double)group.Count() / streams / rate;
        }

        return 1 / seconds;
    }

    /// <summary>
    /// The mix's cost against the expected and against its slowest member, as time per sample over time per sample
    /// (at most 1: the target is met). Null when a rate is missing.
    /// </summary>
    public static (double? ToExpected, double? ToSlowest) CostRatios(MixedCase mix, int streams, double mixRate, IReadOnlyDictionary<string, double> rates)
    {
        var expected = ExpectedRate(mix, streams, rates);
        var members = mix.Algorithms.Select(a => rates.TryGetValue(a, out var r) ? r : double.NaN).ToArray();
        var slowest = members.Any(double.IsNaN) ? (double?)null : members.Min();
        return (expected / mixRate, slowest / mixRate);
    }

    public static string ToMarkdown(
        BenchEnvironment env, string? brokers, IReadOnlyList<MixedRun> runs, TimeSpan warmup, TimeSpan duration, IReadOnlyDictionary<string, string>? processorOverrides = null)
    {
        var streams = MixedBench.Streams;
        var md = new StringBuilder();
        var repeats = runs.Max(r => r.Repeat);
        var loads = runs.SelectMany(r => new[] { r.LoadBefore, r.LoadAfter }).Where(l => !double.IsNaN(l)).DefaultIfEmpty(double.NaN).ToArray();
        md.AppendLine("### End to end: one processor, 1,000 streams (`signal-pipeline bench --scenario mixed`)");
        md.AppendLine();
        md.AppendLine(Inv($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC{(env.Quick ? " in **--quick** mode (short runs, one repeat: a smoke check, not a measurement)" : "")}, ") +
                      Inv($"{repeats} run(s) per case, medians; load average (1 min) {loads.Min():0.0}-{loads.Max():0.0} over the runs. ") +
                      Inv($"{BenchReport.CpuModel()}, {Environment.ProcessorCount} cores shared with other engineers' builds and tests (noisy); {RuntimeInformation.FrameworkDescription}; commit {BenchReport.GitCommit(env.Root)}. ") +
                      $"Broker: {BenchReport.BrokerUsed(brokers, runs[0].Partitions)}; one `filter-kafka-processor` process (Release build, local mode, default settings)." +
                      BenchReport.ChangedSettings(processorOverrides));
        md.AppendLine();
        md.AppendLine(Inv($"Method: {streams:N0} streams of {MixedBench.ChunkSamples}-sample binary f64 chunks, the same input in every case (stream i on input partition"));
        md.AppendLine(Inv($"i mod {runs[0].Partitions}, each stream sending its one chunk again with the next seq each round). Each stream's algorithm is its `stream-config`"));
        md.AppendLine("entry, written as `signal-pipeline streams configure` writes it before the processor starts (default parameters:");
        md.AppendLine(string.Join(", ", StateBench.Algorithms.Select(a => $"`{StreamFilterConfig.Create(a, null)}`")) + ").");
        md.AppendLine("Cases: every stream on one algorithm, then the mix: four consecutive blocks of 250 streams, one per algorithm, so every");
        md.AppendLine(Inv($"partition and batch holds all four. After seq 0 of every stream has come out, rounds of one chunk per stream are produced with"));
        md.AppendLine(Inv($"at most 8 MiB of input ahead of the output; samples/s = output samples at the read_committed output from {warmup.TotalSeconds:0} s (warm-up) for"));
        md.AppendLine(Inv($"{duration.TotalSeconds:0} s. Then everything is drained and checked: every (stream, seq) out exactly once and in order, from its own algorithm."));
        md.AppendLine("The repeats go round the cases (run 1 of each case, then run 2, ...), so a change of the machine's load falls on all cases.");
        md.AppendLine();
        md.AppendLine("Target (issue 13): the mix costs no more than its members' shares: its time per sample at most Σ share_i / rate_i, the");
        md.AppendLine("time the same streams take when each costs what it costs with all streams on its algorithm (cost ratio ≤ 1); and so");
        md.AppendLine("never more than all streams on its slowest member.");
        md.AppendLine();

        md.AppendLine("Two bases: throughput (samples/s at the output, which follows the CPU the processor gets from the machine) and the");
        md.AppendLine("processor's own CPU time per output sample (user + system of all its threads over the same window, /proc/PID/stat,");
        md.AppendLine("10 ms ticks), which a shared machine disturbs much less: the cost the target speaks of.");
        md.AppendLine();
        md.AppendLine("| Case | Samples/s (median) | Processor CPU ns per sample (median) | Runs: M samples/s | Runs: CPU ns per sample | Output complete |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var group in runs.GroupBy(r => r.Case.Label))
        {
            md.AppendLine(Inv($"| {group.Key} | {Mega(BenchReport.Median(group.Select(r => r.SamplesPerSecond)))} | {BenchReport.Median(group.Select(r => r.CpuNsPerSample)):0} | ") +
                          Inv($"{string.Join(", ", group.Select(r => (r.SamplesPerSecond / 1e6).ToString("0.00", CultureInfo.InvariantCulture)))} | {string.Join(", ", group.Select(r => r.CpuNsPerSample.ToString("0", CultureInfo.InvariantCulture)))} | ") +
                          $"{(group.All(r => r.Complete) ? "yes" : "**no**")} |");
        }

        md.AppendLine();
        if (runs.Any(r => r.Case.IsMix))
        {
            md.AppendLine("| Basis | Mix expected from its members, (Σ share_i / rate_i)⁻¹ | Mix measured (median) | Mix cost / expected (medians) | Per repeat (each run of the mix / the same repeat's members) | Mix cost / its slowest member's | Met (≤ 1) |");
            md.AppendLine("|---|---|---|---|---|---|---|");
            AppendTarget(md, runs, "throughput", r => r.SamplesPerSecond, rate => Mega(rate) + " samples/s");
            AppendTarget(md, runs, "processor CPU", r => 1e9 / r.CpuNsPerSample, rate => Inv($"{1e9 / rate:0} ns per sample"));
            md.AppendLine();
        }

        md.AppendLine("| Repeat | Case | Samples/s | CPU ns per sample | Rounds | Chunks out / in | Duplicates | Gaps | Streams short | Other algorithm | Load before → after |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in runs)
        {
            md.AppendLine(Inv($"| {r.Repeat} | {r.Case.Label} | {Mega(r.SamplesPerSecond)} | {r.CpuNsPerSample:0} | {r.Rounds} | {r.Delivered:N0} / {r.Produced:N0} | {r.Duplicates} | {r.Gaps} | {r.StreamsShort} | {r.OtherAlgorithm} | {r.LoadBefore:0.0} → {r.LoadAfter:0.0} |"));
        }

        return md.ToString();
    }

    /// <summary>One row of the target: <paramref name="rateOf"/> is samples per second of wall time, or per CPU second.</summary>
    private static void AppendTarget(StringBuilder md, IReadOnlyList<MixedRun> runs, string basis, Func<MixedRun, double> rateOf, Func<double?, string> format)
    {
        const int streams = MixedBench.Streams;
        var mixRuns = runs.Where(r => r.Case.IsMix).ToList();
        var mix = mixRuns[0].Case;
        var rates = runs.Where(r => !r.Case.IsMix).GroupBy(r => r.Case.Algorithms[0])
            .ToDictionary(g => g.Key, g => BenchReport.Median(g.Select(rateOf)) ?? double.NaN);
        var mixRate = BenchReport.Median(mixRuns.Select(rateOf)) ?? double.NaN;
        var (toExpected, toSlowest) = CostRatios(mix, streams, mixRate, rates);

        // Each repeat's mix against the same repeat's members: the load changes less within a repeat than across all.
        var perRepeat = mixRuns.Select(m => CostRatios(mix, streams, rateOf(m),
            runs.Where(r => r.Repeat == m.Repeat && !r.Case.IsMix).ToDictionary(r => r.Case.Algorithms[0], rateOf)).ToExpected).ToList();
        md.AppendLine(Inv($"| {basis} | {format(ExpectedRate(mix, streams, rates))} | {format(mixRate)} | {Ratio(toExpected)} | ") +
                      Inv($"{string.Join(", ", perRepeat.Select(Ratio))} (median {Ratio(BenchReport.Median(perRepeat.Select(p => p ?? double.NaN)))}) | {Ratio(toSlowest)} | ") +
                      $"{Met(toExpected is { } e ? e <= 1 : null)} |");
    }

    private static string Mega(double? samplesPerSecond) => samplesPerSecond is null ? "-" : Inv($"{samplesPerSecond / 1e6:0.00}M");

    private static string Ratio(double? ratio) => ratio is null ? "-" : Inv($"{ratio:0.00}");

    private static string Met(bool? met) => met switch { true => "yes", false => "**no**", null => "not run" };

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
