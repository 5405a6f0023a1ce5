using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Bench;

/// <summary>The bench's results as markdown: the guide's table with our figures beside it, the targets, every run.</summary>
public sealed class BenchReport(BenchEnvironment env, string? brokers, int repeats)
{
    public const string BeginMarker = "<!-- bench:begin (written by `signal-pipeline bench`; edits inside are overwritten) -->";
    public const string EndMarker = "<!-- bench:end -->";

    public List<(PipelineCase Case, PipelineLoadResult Result)> Pipeline { get; } = [];

    public List<HttpLoadResult> Http { get; } = [];

    public List<(PipelineCase Case, PipelineLoadResult Result, BridgeLoadResult Bridge)> Bridge { get; } = [];

    public List<AbuseResult> Abuse { get; } = [];

    /// <summary>Settings the processors ran with beyond their defaults (<c>--processor-env</c>), named in the report.</summary>
    public IReadOnlyDictionary<string, string>? ProcessorOverrides { get; init; }

    /// <summary>What the load added to its threads' nice value (<c>--load-nice</c>), named in the method.</summary>
    public int LoadNice { get; init; } = LoadPriority.DefaultNice;

    /// <summary>The sentence every section's header adds for <c>--processor-env</c> settings (empty without any).</summary>
    public static string ChangedSettings(IReadOnlyDictionary<string, string>? processorOverrides)
        => processorOverrides is { Count: > 0 } o ? $" Processor settings changed for this run: {string.Join(", ", o.Select(kv => $"`{kv.Key}={kv.Value}`"))}." : "";

    public bool AllDelivered => Pipeline.All(p => p.Result.Lost == 0 && p.Result.Duplicates == 0);

    public string ToMarkdown()
    {
        // The input's partitions as the runs' loads read them (none when only the http scenario ran).
        var partitions = Pipeline.Select(p => (int?)p.Result.Partitions).FirstOrDefault(p => p > 0);
        var md = new StringBuilder();
        md.AppendLine("## End-to-end pipeline (`signal-pipeline bench`)");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC{(env.Quick ? " in **--quick** mode (smoke check: short runs, not a measurement)" : "")}, ") +
                      string.Create(CultureInfo.InvariantCulture, $"{repeats} run(s) per row, medians. Machine: {CpuModel()}, {Environment.ProcessorCount} cores, shared with other work (noisy). ") +
                      string.Create(CultureInfo.InvariantCulture, $"{RuntimeInformation.FrameworkDescription}, librdkafka {Confluent.Kafka.Library.VersionString}, commit {GitCommit(env.Root)}. ") +
                      $"Broker: {BrokerUsed(brokers, partitions)}. " +
                      (brokers is null
                          ? "Everything (broker, services, processors, the load producer and the output consumer) runs on this one machine."
                          : "Everything but the broker (services, processors, the load producer and the output consumer) runs on this one machine.") +
                      ChangedSettings(ProcessorOverrides));
        md.AppendLine();
        md.AppendLine("Rerun: `scripts/bench.sh` (every scenario, 3 runs each; records alone takes about 20 minutes and mixed about 15). `scripts/bench.sh --quick` is a smoke check: it prints its tables and leaves this file alone (`--output FILE` writes them elsewhere).");
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Throughput: {BenchRunner.PipelineStreams} streams of 4096-sample chunks, {StreamsPerPartition(BenchRunner.PipelineStreams, partitions)}, the producer kept at most 8 MiB ahead of the"));
        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"output, rate measured at the read_committed output from {BenchRunner.PipelineWarmup(env).TotalSeconds:0} s after the start (warm-up) for {BenchRunner.PipelineThroughputWindow(env).TotalSeconds:0} s; every (stream, seq)"));
        md.AppendLine("produced is checked to come out exactly once. The load generator formats each stream's JSON samples once and reads");
        md.AppendLine("JSON outputs only for their stream, seq and timestamp (the tests check the values), to leave the CPU to the pipeline.");
        md.AppendLine(LoadNice > 0
            ? string.Create(CultureInfo.InvariantCulture, $"Its threads run at nice +{LoadNice} (`--load-nice`), so the processes measured run first on the cores they share.")
            : "Its threads run at the bench's own priority (`--load-nice 0`).");
        md.AppendLine("Latency: producer timestamp (`timestamp_ms`) to arrival at the output consumer, at a fixed offered 1 M samples/s (or 60% of the");
        md.AppendLine("setup's sustained rate when that is lower, so it is measured below saturation), ms resolution.");
        md.AppendLine();

        md.AppendLine("### The guide's table, our figures beside it");
        md.AppendLine();
        md.AppendLine("| Guide setup | Guide's figures | Our setup | Our throughput | Our latency p50 / p99 (offered rate) |");
        md.AppendLine("|---|---|---|---|---|");
        GuideRow(md, "Local LMS", "2M samples/s, < 10 ms", "local", "lms");
        GuideRow(md, "Remote Kalman", "500K samples/s, 50-100 ms", "remote", "kalman");
        GuideRow(md, "K8s + Flink", "10M+ samples/s, 20-50 ms", "scaled", "kalman");
        md.AppendLine();

        md.AppendLine("### Targets");
        md.AppendLine();
        md.AppendLine("| Target | Measured (median) | Met |");
        md.AppendLine("|---|---|---|");
        Target(md, "local kalman binary >= 10M samples/s", Throughput("local", "kalman", SampleFormat.Float64), v => v >= 10e6, M);
        Target(md, "local kalman JSON >= 2M samples/s", Throughput("local", "kalman", SampleFormat.Json), v => v >= 2e6, M);
        Target(md, "local lms >= 8M samples/s", Throughput("local", "lms", SampleFormat.Float64), v => v >= 8e6, M);
        Target(md, "remote via gateway >= 2M samples/s", Throughput("remote", "kalman", SampleFormat.Float64), v => v >= 2e6, M);
        Target(md, "local p99 <= 20 ms at 1M samples/s", P99AtFullRate("local", "kalman", SampleFormat.Float64), v => v <= 20, Ms);
        Target(md, "remote p99 <= 50 ms at 1M samples/s", P99AtFullRate("remote", "kalman", SampleFormat.Float64), v => v <= 50, Ms);
        md.AppendLine();

        md.AppendLine("### Every pipeline run");
        md.AppendLine();
        md.AppendLine("| Scenario | Setup | Sustained samples/s | Chunks out / in | Lost | Dup | Latency offered / achieved | p50 ms | p95 ms | p99 ms |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (c, r) in Pipeline)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Scenario} | {c.Label} | {M(r.SustainedSamplesPerSecond)} | {r.DeliveredChunks} / {r.ProducedChunks} | {r.Lost} | {r.Duplicates} | " +
                $"{M(r.LatencyOfferedRate)} / {M(r.LatencyAchievedRate)} | {BenchRunner.Fmt(r.Latency?.P50)} | {BenchRunner.Fmt(r.Latency?.P95)} | {BenchRunner.Fmt(r.Latency?.P99)} |");
        }

        RecordsReport.Append(md, Pipeline, brokers);
        if (Bridge.Count > 0)
        {
            AppendBridge(md);
        }

        if (Http.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("### HTTP: 4096-sample kalman requests, 8 concurrent clients");
            md.AppendLine();
            md.AppendLine("Each client posts one fixed chunk to `POST /kalman/audio/run` and waits for the answer before the next, JSON then binary");
            md.AppendLine($"f64, through the gateway and straight to the service (one of each, from their {env.Configuration} builds); the first answer is");
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"checked before timing, then {BenchRunner.HttpWarmup(env).TotalSeconds:0} s of warm-up and {BenchRunner.HttpDuration(env).TotalSeconds:0} s measured per row; requests/s = samples/s / 4096."));
            md.AppendLine();
            md.AppendLine("| Target | Body | Samples/s (median) | Requests/s | p50 ms | p99 ms | Failed | Gateway / direct |");
            md.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (var group in Http.GroupBy(h => (h.Encoding, h.Target)))
            {
                var rate = Median(group.Select(h => h.SamplesPerSecond));
                var direct = Median(Http.Where(h => h.Encoding == group.Key.Encoding && h.Target == "direct").Select(h => h.SamplesPerSecond));
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {group.Key.Target} | {group.Key.Encoding} | {M(rate)} | {rate / 4096:0} | {BenchRunner.Fmt(Median(group.Select(h => h.Latency?.P50 ?? double.NaN)))} | " +
                    $"{BenchRunner.Fmt(Median(group.Select(h => h.Latency?.P99 ?? double.NaN)))} | {group.Sum(h => h.Failures)} | " +
                    $"{(group.Key.Target == "gateway" ? (rate / direct)?.ToString("0.00", CultureInfo.InvariantCulture) : "")} |");
            }
        }

        return md.ToString();
    }

    private void AppendBridge(StringBuilder md)
    {
        md.AppendLine();
        md.AppendLine("### WebSocket bridge: the pipeline with and without 200 live clients");
        md.AppendLine();
        md.AppendLine("One processor (kalman, binary f64) and one bridge reading `sample-output`; then the same with 200 WebSocket clients on");
        md.AppendLine("loopback, each subscribed to all 16 streams at the default point budget (30 frames/s). Added delay: client receipt of a");
        md.AppendLine("`data` message minus the bridge's arrival of the newest chunk in it (frame interval + queueing + sending), measured during");
        md.AppendLine("the latency phase (pipeline at 1 M samples/s). The clients run in the bench process on the same 2 cores.");
        md.AppendLine();
        md.AppendLine("| Setup | Sustained samples/s | Achieved at offered | Pipeline p50 / p99 ms | Data msgs/s per client | Added delay p50 / p95 / p99 ms | Dropped frames |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var group in Bridge.GroupBy(b => b.Case.Label))
        {
            var runs = group.ToList();
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {group.Key} | {M(Median(runs.Select(r => r.Result.SustainedSamplesPerSecond)))} | " +
                $"{M(Median(runs.Select(r => r.Result.LatencyAchievedRate)))} / {M(Median(runs.Select(r => r.Result.LatencyOfferedRate)))} | " +
                $"{BenchRunner.Fmt(Median(runs.Select(r => r.Result.Latency?.P50 ?? double.NaN)))} / {BenchRunner.Fmt(Median(runs.Select(r => r.Result.Latency?.P99 ?? double.NaN)))} | " +
                $"{(runs[0].Case.BridgeClients > 0 ? Median(runs.Select(r => r.Bridge.DataMessagesPerClientPerSecond))?.ToString("0.0", CultureInfo.InvariantCulture) : "-")} | " +
                $"{(runs[0].Case.BridgeClients > 0 ? $"{BenchRunner.Fmt(Median(runs.Select(r => r.Bridge.Delay?.P50 ?? double.NaN)))} / {BenchRunner.Fmt(Median(runs.Select(r => r.Bridge.Delay?.P95 ?? double.NaN)))} / {BenchRunner.Fmt(Median(runs.Select(r => r.Bridge.Delay?.P99 ?? double.NaN)))}" : "-")} | " +
                $"{(runs[0].Case.BridgeClients > 0 ? runs.Sum(r => r.Bridge.Dropped).ToString(CultureInfo.InvariantCulture) : "-")} |");
        }

        var without = Bridge.Where(b => b.Case.BridgeClients == 0).ToList();
        var with = Bridge.Where(b => b.Case.BridgeClients > 0).ToList();
        if (without.Count > 0 && with.Count > 0)
        {
            var achieved = Median(with.Select(b => b.Result.LatencyAchievedRate)) / Median(without.Select(b => b.Result.LatencyAchievedRate));
            var sustained = Median(with.Select(b => b.Result.SustainedSamplesPerSecond)) / Median(without.Select(b => b.Result.SustainedSamplesPerSecond));
            var delay = Median(with.Select(b => b.Bridge.Delay?.P99 ?? double.NaN));
            md.AppendLine();
            md.AppendLine("| Target | Measured (median) | Met |");
            md.AppendLine("|---|---|---|");
            Target(md, "bridge: p99 added frame delay <= 50 ms with 200 clients at 1M samples/s", delay, v => v <= 50, Ms);
            Target(md, "bridge: pipeline throughput at 1M samples/s with 200 clients within 10% of without", achieved, v => v >= 0.9, Ratio);
            md.AppendLine(CultureInfo.InvariantCulture, $"| (for information) sustained maximum with 200 clients / without | {Ratio(sustained)} | |");
        }
    }

    private static string Ratio(double? ratio) => ratio is null ? "-" : ratio.Value.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>Replaces the bench section of <paramref name="path"/> (between the markers), or appends it.</summary>
    public static void WriteSection(string path, string markdown, string beginMarker = BeginMarker, string endMarker = EndMarker)
    {
        var section = $"{beginMarker}\n{markdown.TrimEnd()}\n{endMarker}\n";
        var text = File.Exists(path) ? File.ReadAllText(path) : "# Benchmarks\n\n";
        var begin = text.IndexOf(beginMarker, StringComparison.Ordinal);
        var end = text.IndexOf(endMarker, StringComparison.Ordinal);
        text = begin >= 0 && end > begin
            ? text[..begin] + section + text[(end + endMarker.Length)..].TrimStart('\n')
            : text.TrimEnd() + "\n\n" + section;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, text);
    }

    private void GuideRow(StringBuilder md, string guide, string guideFigures, string scenario, string algorithm)
    {
        var runs = Runs(scenario, algorithm, SampleFormat.Float64).ToList();
        var label = runs.Count > 0 ? runs[0].Case.Label : "(not run)";
        md.AppendLine(CultureInfo.InvariantCulture,
            $"| {guide} | {guideFigures} | {scenario}: {label} | {M(Throughput(scenario, algorithm, SampleFormat.Float64))} samples/s | " +
            $"{BenchRunner.Fmt(Median(runs.Select(r => r.Result.Latency?.P50 ?? double.NaN)))} / {BenchRunner.Fmt(P99(scenario, algorithm, SampleFormat.Float64))} ms " +
            $"({M(Median(runs.Select(r => r.Result.LatencyOfferedRate)))}) |");
    }

    private static void Target(StringBuilder md, string target, double? value, Func<double, bool> met, Func<double?, string> format)
        => md.AppendLine(CultureInfo.InvariantCulture, $"| {target} | {format(value)} | {(value is null ? "not run" : met(value.Value) ? "yes" : "**no**")} |");

    private IEnumerable<(PipelineCase Case, PipelineLoadResult Result)> Runs(string scenario, string algorithm, SampleFormat format)
        => Pipeline.Where(p => p.Case.Scenario == scenario && p.Case.Algorithm == algorithm && p.Case.Format == format);

    private double? Throughput(string scenario, string algorithm, SampleFormat format)
        => Median(Runs(scenario, algorithm, format).Select(r => r.Result.SustainedSamplesPerSecond));

    private double? P99(string scenario, string algorithm, SampleFormat format)
        => Median(Runs(scenario, algorithm, format).Select(r => r.Result.Latency?.P99 ?? double.NaN));

    /// <summary>p99 of the runs whose latency phase was offered the full 1M samples/s (a setup that saturates below it has none).</summary>
    private double? P99AtFullRate(string scenario, string algorithm, SampleFormat format)
        => Median(Runs(scenario, algorithm, format).Where(r => r.Result.LatencyOfferedRate >= 1e6).Select(r => r.Result.Latency?.P99 ?? double.NaN));

    internal static double? Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? null : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string M(double? samplesPerSecond) => samplesPerSecond is null ? "-" : $"{samplesPerSecond / 1e6:0.00}M";

    private static string Ms(double? milliseconds) => milliseconds is null ? "-" : $"{milliseconds:0.0} ms";

    /// <summary>
    /// The "Broker:" clause of every section: what the runs really used. <paramref name="partitions"/> is the input's
    /// partition count as the load read it from the broker's metadata (<see cref="StateLoad.Partitions"/>,
    /// <see cref="PipelineLoadResult.Partitions"/>), the N of the methods' "stream i on input partition i mod N": a
    /// <c>--brokers</c> cluster's own, not the dev broker's; null when no run read it (the pipeline section of an http-only run).
    /// </summary>
    internal static string BrokerUsed(string? brokers, int? partitions) => (brokers, partitions) switch
    {
        (null, null) => "a fresh embedded dev broker per run",
        (null, { } p) => string.Create(CultureInfo.InvariantCulture, $"a fresh embedded dev broker per run, {p} partitions per topic"),
        (_, null) => $"`{brokers}` (`--brokers`)",
        (_, { } p) => string.Create(CultureInfo.InvariantCulture, $"`{brokers}` (`--brokers`), `{PipelineTopics.DefaultInput}` with {p} partitions (read from its metadata)"),
    };

    /// <summary>
    /// How the pipeline load's streams lie on the input's partitions (round-robin, <see cref="PipelineLoad"/>): "2 per input
    /// partition" on the dev broker's 8; a <c>--brokers</c> cluster's input may have any count.
    /// </summary>
    internal static string StreamsPerPartition(int streams, int? partitions) => partitions switch
    {
        null => "round-robin over the input's partitions",
        { } p when streams % p == 0 => string.Create(CultureInfo.InvariantCulture, $"{streams / p} per input partition"),
        { } p => string.Create(CultureInfo.InvariantCulture, $"round-robin over {p} input partitions (stream i on partition i mod {p})"),
    };

    internal static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    internal static string GitCommit(string root)
    {
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", ["-C", root, "rev-parse", "--short", "HEAD"]) { RedirectStandardOutput = true });
            var commit = git?.StandardOutput.ReadToEnd().Trim();
            git?.WaitForExit();
            return string.IsNullOrEmpty(commit) ? "unknown" : commit;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
