using SignalPipeline.Cli.Bench;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// What the sections' headers say was used: with <c>bench --brokers</c> the given cluster and the input's partitions as
/// the load read them from its metadata, not the dev broker the bench would have started (docs/benchmarks.md). Until
/// 2026-12-05 the state and mixed methods said "i mod 32" and "i mod 8" and the state section spoke of the dev broker's
/// dropped records whatever the broker was.
/// </summary>
public sealed class BenchHeaderTests
{
    private const string Cluster = "kafka-0.example:9092,kafka-1.example:9092";

    private static readonly BenchEnvironment Env = new(RepositoryLayout.Root, "Release", Path.GetTempPath(), Quick: false);

    private static IReadOnlyList<StateRun> StateRuns(int partitions) =>
    [
        new("kalman", 20_000, 2_000, 100_000, 200_000, 210_000, 4.0, Duplicates: 0, ChangelogRecordsDropped: 0,
            [new StateRestore(20_000, 300, 1.0, 2.0, 3.0, 256, 256, 190_000)], partitions),
    ];

    private static IReadOnlyList<MixedRun> MixedRuns(int partitions) =>
        MixedCase.All.Select(c => new MixedRun(c, 1, 1e6, 500, 10, 10_000, 10_000, 0, 0, 0, 0, 0, 1.0, 1.0, partitions)).ToList();

    [Fact]
    public void With_brokers_the_state_section_names_the_cluster_and_its_partitions_and_not_the_dev_broker()
    {
        var md = StateReport.ToMarkdown(Env, Cluster, StateRuns(partitions: 12));

        Assert.Contains($"Broker: `{Cluster}` (`--brokers`), `sample-input` with 12 partitions (read from its metadata);", md, StringComparison.Ordinal);
        Assert.Contains("stream i on input partition i mod 12;", md, StringComparison.Ordinal);
        Assert.DoesNotContain("dev broker", md, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("mod 32", md, StringComparison.Ordinal);
    }

    [Fact]
    public void With_brokers_the_mixed_section_names_the_cluster_and_its_partitions_and_not_the_dev_broker()
    {
        var md = MixedReport.ToMarkdown(Env, Cluster, MixedRuns(partitions: 12), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(12));

        Assert.Contains($"Broker: `{Cluster}` (`--brokers`), `sample-input` with 12 partitions (read from its metadata);", md, StringComparison.Ordinal);
        Assert.Contains("stream i on input partition\ni mod 12,", md.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.DoesNotContain("dev broker", md, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("mod 8", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_brokers_both_sections_name_the_dev_broker_with_the_partitions_the_load_found()
    {
        var state = StateReport.ToMarkdown(Env, brokers: null, StateRuns(partitions: 32));
        var mixed = MixedReport.ToMarkdown(Env, brokers: null, MixedRuns(partitions: 8), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(12));

        Assert.Contains("Broker: a fresh embedded dev broker per run, 32 partitions per topic;", state, StringComparison.Ordinal);
        Assert.Contains("i mod 32;", state, StringComparison.Ordinal);
        Assert.Contains("The dev broker keeps only the newest ~5 MiB", state, StringComparison.Ordinal);
        Assert.Contains("Broker: a fresh embedded dev broker per run, 8 partitions per topic;", mixed, StringComparison.Ordinal);
        Assert.Contains("i mod 8,", mixed, StringComparison.Ordinal);
    }

    [Fact]
    public void With_brokers_the_pipeline_section_does_not_say_the_broker_runs_on_this_machine()
    {
        var remote = new BenchReport(Env, Cluster, repeats: 1).ToMarkdown();
        var local = new BenchReport(Env, brokers: null, repeats: 1).ToMarkdown();

        Assert.Contains($"Broker: `{Cluster}` (`--brokers`). Everything but the broker (services, processors", remote, StringComparison.Ordinal);
        Assert.DoesNotContain("Everything (broker,", remote, StringComparison.Ordinal);
        Assert.Contains("Everything (broker, services, processors, the load producer and the output consumer) runs on this one machine.", local, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(12, "round-robin over 12 input partitions (stream i on partition i mod 12)")]
    [InlineData(4, "4 per input partition")]
    public void With_brokers_the_pipeline_section_names_the_cluster_and_lays_the_streams_on_its_input_partitions(int partitions, string layout)
    {
        var md = PipelineReport(Cluster, partitions).ToMarkdown();

        Assert.Contains($"Broker: `{Cluster}` (`--brokers`), `sample-input` with {partitions} partitions (read from its metadata). Everything but the broker", md, StringComparison.Ordinal);
        Assert.Contains($"Throughput: 16 streams of 4096-sample chunks, {layout}, the producer", md, StringComparison.Ordinal);
        Assert.DoesNotContain("two per input partition", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_brokers_the_pipeline_section_names_the_dev_broker_and_the_streams_per_partition_it_had()
    {
        var md = PipelineReport(brokers: null, partitions: 8).ToMarkdown();

        Assert.Contains("Broker: a fresh embedded dev broker per run, 8 partitions per topic. Everything (broker,", md, StringComparison.Ordinal);
        Assert.Contains("Throughput: 16 streams of 4096-sample chunks, 2 per input partition, the producer", md, StringComparison.Ordinal);
        Assert.Contains("CPU time (/proc) of the worker, the dev broker and the bench's own load", md, StringComparison.Ordinal);
        Assert.Contains("| pass-through, binary f64, 256 samples | ", md, StringComparison.Ordinal);
        Assert.Contains(" | 10.0 / 5.0 / 20.0 |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void With_brokers_the_records_section_names_the_cluster_and_shows_its_cpu_as_not_measured()
    {
        var md = PipelineReport(Cluster, partitions: 8).ToMarkdown();
        var records = md[md.IndexOf("### Cost per record", StringComparison.Ordinal)..];

        Assert.Contains($"The broker, `{Cluster}` (`--brokers`), is not on this machine: its", records, StringComparison.Ordinal);
        Assert.Contains("CPU is not measured", records, StringComparison.Ordinal);
        Assert.DoesNotContain("dev broker", records, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("all three share", records, StringComparison.Ordinal);

        // Worker / broker / load: the cluster's CPU is "-", not a 0.0 read from no process.
        Assert.Contains(" | 10.0 / - / 20.0 |", records, StringComparison.Ordinal);
    }

    [Fact]
    public void Cpu_is_counted_only_for_the_roles_a_process_had()
    {
        // The bench itself (load) and a worker; no dev broker child, as with --brokers.
        var used = ProcessCpu.Used([(ProcessCpu.Load, 1.0, 3.0), (ProcessCpu.Worker, 2.0, 2.5), (ProcessCpu.Worker, 1.0, null)]);

        Assert.Equal(new Dictionary<string, double> { [ProcessCpu.Load] = 2.0, [ProcessCpu.Worker] = 0.5 }, used);
    }

    /// <summary>
    /// A report of one records case (pass-through and kalman at 256 samples) whose load read <paramref name="partitions"/>
    /// from the input's metadata; its CPU per record has a broker entry only on the dev broker, as <see cref="ProcessCpu"/> gives it.
    /// </summary>
    private static BenchReport PipelineReport(string? brokers, int partitions)
    {
        var report = new BenchReport(Env, brokers, repeats: 1);
        var cpu = new Dictionary<string, double> { [ProcessCpu.Worker] = 10, [ProcessCpu.Load] = 20 };
        if (brokers is null)
        {
            cpu[ProcessCpu.Broker] = 5;
        }

        foreach (var @case in BenchRunner.Cases(["records"], quick: true, pythonReady: false, only: null))
        {
            report.Pipeline.Add((@case, new PipelineLoadResult(20e6, 1000, 1000, 0, 0, null, 1e6, 1e6, 0, 0) { CpuMicrosPerRecord = cpu, Partitions = partitions }));
        }

        return report;
    }

    [Fact]
    public void The_state_and_mixed_sections_name_the_processor_env_settings_they_ran_with()
    {
        var settings = new Dictionary<string, string> { ["DOTNET_GCgen0size"] = "0" };

        var state = StateReport.ToMarkdown(Env, brokers: null, StateRuns(partitions: 32), settings);
        var mixed = MixedReport.ToMarkdown(Env, brokers: null, MixedRuns(partitions: 8), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(12), settings);

        Assert.Contains("Processor settings changed for this run: `DOTNET_GCgen0size=0`.", state, StringComparison.Ordinal);
        Assert.Contains("Processor settings changed for this run: `DOTNET_GCgen0size=0`.", mixed, StringComparison.Ordinal);
        Assert.DoesNotContain("Processor settings changed", StateReport.ToMarkdown(Env, brokers: null, StateRuns(partitions: 32)), StringComparison.Ordinal);
    }

    [Fact]
    public void The_pipeline_section_names_the_warm_up_and_window_the_run_used_quick_or_not()
    {
        var full = new BenchReport(Env, brokers: null, repeats: 1).ToMarkdown().ReplaceLineEndings(" ");
        var quick = new BenchReport(Env with { Quick = true }, brokers: null, repeats: 1).ToMarkdown().ReplaceLineEndings(" ");

        Assert.Contains("from 10 s after the start (warm-up) for 12 s;", full, StringComparison.Ordinal);
        Assert.Contains("from 1 s after the start (warm-up) for 2 s;", quick, StringComparison.Ordinal);
    }

    [Fact]
    public void The_pipeline_section_names_the_load_s_priority()
    {
        var lowered = new BenchReport(Env, brokers: null, repeats: 1).ToMarkdown();
        var even = new BenchReport(Env, brokers: null, repeats: 1) { LoadNice = 0 }.ToMarkdown();

        Assert.Contains("Its threads run at nice +19 (`--load-nice`), so the processes measured run first on the cores they share.", lowered, StringComparison.Ordinal);
        Assert.Contains("Its threads run at the bench's own priority (`--load-nice 0`).", even, StringComparison.Ordinal);
    }
}
