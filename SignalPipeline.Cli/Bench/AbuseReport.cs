using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace SignalPipeline.Cli.Bench;

/// <summary>The abuse scenario's section of docs/benchmarks.md (its own markers: the pipeline section is left alone).</summary>
public static class AbuseReport
{
    public const string BeginMarker = "<!-- bench-abuse:begin (written by `signal-pipeline bench --scenario abuse`; edits inside are overwritten) -->";
    public const string EndMarker = "<!-- bench-abuse:end -->";

    /// <summary>Pod memory limits of deploy/k8s (filter services, gateway, bridge: 512Mi each).</summary>
    private const long PodMemoryLimitBytes = 512L * 1024 * 1024;

    public static string ToMarkdown(IReadOnlyList<AbuseResult> runs, BenchEnvironment env, TimeSpan phase)
    {
        var md = new StringBuilder();
        md.AppendLine("## Abuse (`signal-pipeline bench --scenario abuse`)");
        md.AppendLine();
        md.AppendLine(Inv($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC{(env.Quick ? " in **--quick** mode (smoke check, not a measurement)" : "")}, {runs.Count} run(s), medians. ") +
                      Inv($"Machine: {BenchReport.CpuModel()}, {Environment.ProcessorCount} cores, shared with other engineers' builds and tests (noisy). ") +
                      Inv($"{RuntimeInformation.FrameworkDescription}, commit {BenchReport.GitCommit(env.Root)}."));
        md.AppendLine();
        md.AppendLine("Each service ran with the GC heap cap the runtime sets by itself in a 512Mi pod (`DOTNET_GCHeapHardLimit` = 384 MiB, 75%): on this machine nothing else caps it, and an uncapped GC keeps garbage it could collect, so its RSS says little about the pod. " +
                      (AbuseRun.ServiceCpus == "0"
                          ? "Each service saw the machine's CPUs (BENCH_SERVICE_CPUS=0: the server GC)."
                          : Inv($"Each service's runtime saw {AbuseRun.ServiceCpus} CPU (`DOTNET_PROCESSOR_COUNT`), as the pod's CPU limit makes it see: so it ran the workstation GC, as in the pod.")));
        md.AppendLine();
        md.AppendLine(Inv($"One filter service (default limits), the gateway (recommended Kubernetes rate limit: 200/s, burst 400 per client) and the bridge, from their Release builds, all on this machine; ") +
                      Inv($"the gateway and the bridge trust X-Forwarded-For from loopback as they would from the Ingress, so each simulated client has its own address. ") +
                      Inv($"Normal clients: one calling `POST /kalman/audio/run` through the gateway with a 4096-sample JSON chunk, one call at a time (20 ms apart), ") +
                      Inv($"and one /ws client watching one of 8 streams fed at 20 chunks/s (delay = receipt minus the bridge's arrival of the newest chunk in the frame). ") +
                      Inv($"Each phase {phase.TotalSeconds:0} s{(AbuseLoad.IsSliced(phase) ? $", in 3 alternating slices (alone, abused, alone, ...: load changes of the machine weigh on both alike; 2 s after each abused slice are not counted; before them every abuser runs for {AbuseLoad.WarmUp.TotalSeconds:0} s from other addresses, not counted, so that their paths are compiled as in a server that has been up a while)" : "")}: alone, and while 2 loops send 20,000-item rls(64) batches, 8 loops send 16 MiB bodies, 2 loops send 1 Mi-sample rls(64) runs and give up after 300 ms, ") +
                      "1,000 WebSocket upgrades and 1,000 idle TCP connections come from one address, 2 clients flood subscriptions (150 new streams per message, until closed, then again) and 8 clients subscribe to everything undecimated and never read.");
        md.AppendLine();
        var split = runs.Select(r => r.CpuSplit).FirstOrDefault(s => s is not null);
        md.AppendLine(split is null
            ? "CPU: everything (services, broker, bench, abusers) shared the machine's cores with whatever else ran on it."
            : $"CPU: {split} (BENCH_CPU_SPLIT=1); other engineers' work still ran on both.");
        md.AppendLine();
        md.AppendLine("| Normal client | without abuse | with abuse | ratio (target <= 2x) |");
        md.AppendLine("|---|---|---|---|");
        Row(md, "HTTP p50 (ms)", runs.Select(r => r.Baseline.Http?.P50), runs.Select(r => r.Abused.Http?.P50), ratio: false);
        Row(md, "HTTP p99 (ms)", runs.Select(r => r.Baseline.Http?.P99), runs.Select(r => r.Abused.Http?.P99), ratio: true);
        Row(md, "same call straight to the service, p50 (ms)", runs.Select(r => r.Baseline.DirectHttp?.P50), runs.Select(r => r.Abused.DirectHttp?.P50), ratio: false);
        Row(md, "same call straight to the service, p99 (ms)", runs.Select(r => r.Baseline.DirectHttp?.P99), runs.Select(r => r.Abused.DirectHttp?.P99), ratio: true);
        md.AppendLine(Inv($"| HTTP calls ok / failed | {Median(runs.Select(r => (double?)r.Baseline.HttpRequests)):0} / {Median(runs.Select(r => (double?)r.Baseline.HttpFailures)):0} | ") +
                      Inv($"{Median(runs.Select(r => (double?)r.Abused.HttpRequests)):0} / {Median(runs.Select(r => (double?)r.Abused.HttpFailures)):0} | |"));
        Row(md, "/ws frame delay p50 (ms)", runs.Select(r => r.Baseline.FrameDelay?.P50), runs.Select(r => r.Abused.FrameDelay?.P50), ratio: false);
        Row(md, "/ws frame delay p99 (ms)", runs.Select(r => r.Baseline.FrameDelay?.P99), runs.Select(r => r.Abused.FrameDelay?.P99), ratio: true);
        Row(md, "/ws data messages per second", runs.Select(r => (double?)r.Baseline.FramesPerSecond), runs.Select(r => (double?)r.Abused.FramesPerSecond), ratio: false);
        md.AppendLine();

        md.AppendLine("| Process | CPUs used without abuse | with abuse |");
        md.AppendLine("|---|---|---|");
        foreach (var name in runs.SelectMany(r => r.Abused.CpusUsed?.Keys ?? []).Distinct())
        {
            md.AppendLine(Inv($"| {name} | {Median(runs.Select(r => r.Baseline.CpusUsed?.GetValueOrDefault(name))):0.00} | {Median(runs.Select(r => r.Abused.CpusUsed?.GetValueOrDefault(name))):0.00} |"));
        }

        md.AppendLine();
        md.AppendLine("| Process | peak RSS (median of runs) | pod memory limit (deploy/k8s) | below |");
        md.AppendLine("|---|---|---|---|");
        foreach (var name in runs.SelectMany(r => r.PeakRssBytes.Keys).Distinct())
        {
            var peak = Median(runs.Select(r => r.PeakRssBytes.TryGetValue(name, out var v) ? (double?)v : null));
            md.AppendLine(Inv($"| {name} | {peak / (1024 * 1024):0} MiB | 512 MiB | {(peak is null ? "-" : peak < PodMemoryLimitBytes ? "yes" : "**no**")} |"));
        }

        md.AppendLine();
        md.AppendLine(Inv($"Every service alive and healthy after every run: {(runs.All(r => r.AllAlive) ? "yes" : "**no**")}."));
        md.AppendLine();
        md.AppendLine("What the abusers got (all runs together):");
        md.AppendLine();
        md.AppendLine("| abuser: answer | count |");
        md.AppendLine("|---|---|");
        foreach (var (answer, count) in runs.SelectMany(r => r.Answers).GroupBy(a => a.Key).Select(g => (g.Key, g.Sum(a => a.Value))).OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            md.AppendLine(Inv($"| {answer} | {count} |"));
        }

        return md.ToString();
    }

    private static void Row(StringBuilder md, string label, IEnumerable<double?> without, IEnumerable<double?> with, bool ratio)
    {
        var a = Median(without);
        var b = Median(with);
        var r = a is > 0 && b is not null ? b / a : null;
        md.AppendLine(Inv($"| {label} | {BenchRunner.Fmt(a)} | {BenchRunner.Fmt(b)} | {(ratio && r is not null ? Inv($"{r:0.00}x{(r <= 2 ? "" : " (**over**)")}") : "")} |"));
    }

    private static double? Median(IEnumerable<double?> values)
    {
        var sorted = values.Where(v => v is not null && !double.IsNaN(v.Value)).Select(v => v!.Value).Order().ToArray();
        return sorted.Length == 0 ? null : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
