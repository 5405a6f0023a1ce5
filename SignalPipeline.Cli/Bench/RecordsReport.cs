using System.Globalization;
using System.Text;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Bench;

/// <summary>The "records" scenario (issue 14) as markdown: each case against the pass-through of its format and chunk size.</summary>
public static class RecordsReport
{
    /// <param name="brokers">The <c>--brokers</c> cluster, or null for the dev broker the bench started (and measured).</param>
    public static void Append(StringBuilder md, IReadOnlyList<(PipelineCase Case, PipelineLoadResult Result)> pipeline, string? brokers)
    {
        var runs = pipeline.Where(p => p.Case.Scenario == "records").ToList();
        if (runs.Count == 0)
        {
            return;
        }

        md.AppendLine();
        md.AppendLine("### Cost per record (scenario `records`)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"The same {BenchRunner.PipelineStreams} streams with smaller chunks. Pass-through: the processor's consumer and producer settings copying");
        md.AppendLine("`sample-input` to `sample-output` unchanged (no parsing, no transactions), as its own process: the ceiling. Python");
        md.AppendLine("peer: `SignalPipeline.Cli/Bench/kalman_peer.py` (confluent-kafka 1.7.0, json, per-stream kalman in a loop,");
        md.AppendLine("at-least-once). Medians of the runs; ratio = the case's median samples/s over the pass-through's of the same format");
        md.AppendLine("and chunk size; latency at the offered rate (1 M samples/s, or 60 % of the sustained rate when lower). CPU per");
        var cores = Environment.ProcessorCount;
        if (brokers is null)
        {
            md.AppendLine("record: CPU time (/proc) of the worker, the dev broker and the bench's own load (producer and output consumer) over");
            md.AppendLine(CultureInfo.InvariantCulture, $"the throughput window, divided by the records that came out; all three share the {cores} cores, so records/s is at most");
            md.AppendLine(CultureInfo.InvariantCulture, $"{cores} s over their sum.");
        }
        else
        {
            // The cluster runs elsewhere: /proc here cannot see its CPU, and it does not share this machine's cores.
            md.AppendLine("record: CPU time (/proc) of the worker and the bench's own load (producer and output consumer) over the throughput");
            md.AppendLine(CultureInfo.InvariantCulture, $"window, divided by the records that came out. The broker, `{brokers}` (`--brokers`), is not on this machine: its");
            md.AppendLine(CultureInfo.InvariantCulture, $"CPU is not measured (\"-\"). The worker and the load share the {cores} cores, so records/s is at most {cores} s over their sum.");
        }

        md.AppendLine();
        md.AppendLine("| Setup | Records/s | Samples/s | / pass-through | Latency offered | p50 ms | p99 ms | CPU µs/record: worker / broker / load |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var group in runs.GroupBy(r => r.Case.Label))
        {
            var @case = group.First().Case;
            var rate = Sustained(group);
            var ceiling = Sustained(runs.Where(r => r.Case.Worker == PipelineWorker.Passthrough && r.Case.Format == @case.Format && r.Case.ChunkSamples == @case.ChunkSamples));
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {@case.Label} | {rate / @case.ChunkSamples / 1e3:0.0}K | {rate / 1e6:0.00}M | " +
                $"{(@case.Worker == PipelineWorker.Passthrough ? "1" : (rate / ceiling)?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-")} | " +
                $"{Median(group.Select(r => r.Result.LatencyOfferedRate)) / 1e6:0.00}M | " +
                $"{BenchRunner.Fmt(Median(group.Select(r => r.Result.Latency?.P50 ?? double.NaN)))} | {BenchRunner.Fmt(Median(group.Select(r => r.Result.Latency?.P99 ?? double.NaN)))} | " +
                $"{Cpu(group, ProcessCpu.Worker)} / {Cpu(group, ProcessCpu.Broker)} / {Cpu(group, ProcessCpu.Load)} |");
        }

        var f64 = Processor(runs, SampleFormat.Float64, 256);
        var passthrough = Sustained(runs.Where(r => r.Case.Worker == PipelineWorker.Passthrough && r.Case.Format == SampleFormat.Float64 && r.Case.ChunkSamples == 256));
        var json = Processor(runs, SampleFormat.Json, 256);
        var python = Sustained(runs.Where(r => r.Case.Worker == PipelineWorker.PythonPeer));
        md.AppendLine();
        md.AppendLine("| Target (issue 14) | Measured (median) | Met |");
        md.AppendLine("|---|---|---|");
        Target(md, "f64, 256 samples >= 0.4 of the pass-through", Sustained(f64) / passthrough, v => v >= 0.4, v => v.ToString("0.00", CultureInfo.InvariantCulture));
        Target(md, "f64, 64 samples >= 150K records/s", Sustained(Processor(runs, SampleFormat.Float64, 64)) / 64, v => v >= 150e3, v => $"{v / 1e3:0.0}K records/s");
        Target(md, "JSON, 256 samples >= 4x the Python peer", Sustained(json) / python, v => v >= 4, v => v.ToString("0.00", CultureInfo.InvariantCulture) + "x");
        Target(md, "JSON, 256 samples >= 5M samples/s", Sustained(json), v => v >= 5e6, v => $"{v / 1e6:0.00}M");
        Target(md, "binary f64, 256 samples: p99 <= 20 ms at 1M samples/s", FullRateP99(f64), v => v <= 20, v => $"{v:0.0} ms");
        Target(md, "JSON, 256 samples: p99 <= 20 ms at 1M samples/s", FullRateP99(json), v => v <= 20, v => $"{v:0.0} ms");
    }

    private static IEnumerable<(PipelineCase Case, PipelineLoadResult Result)> Processor(
        IEnumerable<(PipelineCase Case, PipelineLoadResult Result)> runs, SampleFormat format, int samples)
        => runs.Where(r => r.Case.Worker == PipelineWorker.Processor && r.Case.Format == format && r.Case.ChunkSamples == samples).ToList();

    private static double? Sustained(IEnumerable<(PipelineCase Case, PipelineLoadResult Result)> runs)
        => Median(runs.Select(r => r.Result.SustainedSamplesPerSecond));

    /// <summary>p99 of the runs whose latency phase was offered the full 1M samples/s (a setup that saturates below it has none).</summary>
    private static double? FullRateP99(IEnumerable<(PipelineCase Case, PipelineLoadResult Result)> runs)
        => Median(runs.Where(r => r.Result.LatencyOfferedRate >= 1e6).Select(r => r.Result.Latency?.P99 ?? double.NaN));

    private static void Target(StringBuilder md, string target, double? value, Func<double, bool> met, Func<double, string> format)
        => md.AppendLine(CultureInfo.InvariantCulture, $"| {target} | {(value is { } v ? format(v) : "-")} | {(value is null ? "not run" : met(value.Value) ? "yes" : "**no**")} |");

    private static double? Median(IEnumerable<double> values) => BenchReport.Median(values);

    /// <summary>
    /// The median CPU microseconds per record of one role over the runs that measured it; "-" when none did (the broker
    /// of a <c>--brokers</c> run, <see cref="ProcessCpu.Used"/>).
    /// </summary>
    private static string Cpu(IEnumerable<(PipelineCase Case, PipelineLoadResult Result)> runs, string role)
        => BenchRunner.Fmt(Median(runs.Select(r => r.Result.CpuMicrosPerRecord?.GetValueOrDefault(role, double.NaN) ?? double.NaN)));
}
