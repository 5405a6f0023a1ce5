using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace SignalPipeline.Cli.Bench;

/// <summary>The state scenario's markdown section, kept apart from the pipeline section (its own markers).</summary>
public static class StateReport
{
    public const string BeginMarker = "<!-- bench-state:begin (written by `signal-pipeline bench --scenario state`; edits inside are overwritten) -->";
    public const string EndMarker = "<!-- bench-state:end -->";

    private const long TargetRssMiB = 512;
    private const double TargetRestoreSeconds = 5;

    public static string ToMarkdown(BenchEnvironment env, string? brokers, IReadOnlyList<StateRun> runs, IReadOnlyDictionary<string, string>? processorOverrides = null)
    {
        var md = new StringBuilder();
        var large = runs[0];
        md.AppendLine("## Processor state (`signal-pipeline bench --scenario state`)");
        md.AppendLine();
        md.AppendLine(Inv($"Measured {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC{(env.Quick ? " in **--quick** mode (20,000 streams: a smoke check, not a measurement)" : "")}; ") +
                      Inv($"{Environment.ProcessorCount} cores, shared with other engineers' builds and tests (noisy); {RuntimeInformation.FrameworkDescription}. ") +
                      $"Broker: {BenchReport.BrokerUsed(brokers, large.Partitions)}; one `filter-kafka-processor` process " +
                      "(Release build, local mode, default settings except `Processor:MaxStreams` = 2 × streams, `Processor:MaxStreamBytes` = 1 TiB and `Processor:StreamIdleSeconds` = 86400, so no limit shapes the run; `MaxStreamBytes` from 2026-12-06 on)." +
                      BenchReport.ChangedSettings(processorOverrides));
        md.AppendLine();
        md.AppendLine(Inv($"Method: each stream is one 4-sample binary f64 chunk (seq 0), stream i on input partition i mod {large.Partitions}; the bench waits until every"));
        md.AppendLine("stream's chunk is in the read_committed output (so its checkpoint is committed), reads the processor's `VmRSS` and `VmHWM`");
        md.AppendLine("(/proc/PID/status), kills it with SIGKILL and starts a new process, which restores the state from the changelog. Restore time");
        md.AppendLine("is the new processor's own log line (`restored N streams in X ms`); times \"after\" count from the new process's start (\"assigned\": its first");
        md.AppendLine("`Assigned partitions` line, which Processor v2 writes when the restore starts and v1 wrote when it ended); \"probes out\": until");
        md.AppendLine("256 probe chunks (seq 1, 2, ... of streams spread over all partitions) came out, which includes .NET start-up and the group");
        md.AppendLine("rebalance (the killed member is only dropped after its session timeout). A probe that never comes out belongs to a stream");
        md.AppendLine("whose checkpoint was lost. Memory per stream = (RSS with all streams − RSS after the first 2,000) / the streams in between;");
        md.AppendLine("it includes the GC's free space (the processor runs with `System.GC.RetainVM`), so it is what a pod's memory limit must allow.");
        if (brokers is null)
        {
            md.AppendLine("The dev broker keeps only the newest ~5 MiB of each partition and drops older records instead of compacting: the");
            md.AppendLine("changelog records it dropped are counted below, and their streams restore from empty state (a real cluster compacts).");
        }
        else
        {
            // A cluster compacts the changelog without moving its log start offset, so only deleted records count here.
            md.AppendLine("Changelog records dropped = the changelog's log start offsets summed: records deleted from its start (compaction");
            md.AppendLine("keeps the offsets, so a compacted changelog counts 0); their streams restore from empty state.");
        }
        md.AppendLine();

        var restores = large.Restores;
        md.AppendLine(Inv($"### One processor, {large.Streams:N0} {large.Algorithm} streams"));
        md.AppendLine();
        md.AppendLine("| Measure | Measured | Target | Met |");
        md.AppendLine("|---|---|---|---|");
        md.AppendLine(Inv($"| RSS with all streams loaded (peak) | {MiB(large.RssKiB)} ({MiB(large.PeakRssKiB)}) | < {TargetRssMiB} MiB | {Met(large.RssKiB / 1024.0 < TargetRssMiB)} |"));
        var loggedMs = Median(restores.Where(r => r.LoggedRestoreMs is not null).Select(r => (double)r.LoggedRestoreMs!.Value));
        md.AppendLine(Inv($"| Restore after kill -9, processor's log (median of {restores.Count}) | {Sec(loggedMs / 1000)} | < {TargetRestoreSeconds:0} s | {(loggedMs is null ? "not run" : Met(loggedMs / 1000 < TargetRestoreSeconds))} |"));
        md.AppendLine(Inv($"| New process start to all probes out (median) | {Sec(Median(restores.Select(r => r.ProbesOutSeconds)))} | | |"));
        md.AppendLine(Inv($"| Streams restored (median) | {Median(restores.Select(r => (double)r.RestoredStreams))?.ToString("N0", CultureInfo.InvariantCulture) ?? "-"} of {large.Streams:N0} | | |"));
        md.AppendLine(Inv($"| RSS after restore (median) | {MiB((long?)Median(restores.Select(r => (double)r.RssKiB)))} | | |"));
        md.AppendLine(Inv($"| Changelog records {(brokers is null ? "the dev broker dropped" : "dropped")} (at the end) | {large.ChangelogRecordsDropped:N0} | | |"));
        md.AppendLine(Inv($"| Load: {large.Streams - large.BaselineStreams:N0} new streams in | {large.LoadSeconds:0.0} s ({(large.Streams - large.BaselineStreams) / large.LoadSeconds:N0} streams/s) | | |"));
        md.AppendLine();

        if (restores.Count > 0)
        {
            md.AppendLine("| Restore | Streams restored | Restore (log) | Healthy after | Assigned after | Probes out | Probes out after | RSS after |");
            md.AppendLine("|---|---|---|---|---|---|---|---|");
            for (var i = 0; i < restores.Count; i++)
            {
                var r = restores[i];
                md.AppendLine(Inv($"| {i + 1} | {r.RestoredStreams:N0} | {r.LoggedRestoreMs?.ToString("N0", CultureInfo.InvariantCulture) ?? "not logged"} ms | {r.HealthySeconds:0.0} s | {r.AssignedSeconds:0.0} s | {r.ProbesOut} / {r.Probes} | {r.ProbesOutSeconds:0.0} s | {MiB(r.RssKiB)} |"));
            }

            md.AppendLine();
        }

        md.AppendLine("### Memory per held stream");
        md.AppendLine();
        md.AppendLine("| Algorithm (default parameters) | Streams | RSS after 2,000 streams | RSS with all | Bytes per stream | Chunks out more than once |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var run in runs)
        {
            md.AppendLine(Inv($"| {run.Algorithm} | {run.Streams:N0} | {MiB(run.BaselineRssKiB)} | {MiB(run.RssKiB)} | {run.BytesPerStream:N0} | {run.Duplicates} |"));
        }

        return md.ToString();
    }

    private static double? Median(IEnumerable<double> values) => BenchReport.Median(values);

    private static string MiB(long? kib) => kib is null ? "-" : Inv($"{kib / 1024.0:0} MiB");

    private static string Sec(double? seconds) => seconds is null ? "-" : Inv($"{seconds:0.00} s");

    private static string Met(bool met) => met ? "yes" : "**no**";

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
