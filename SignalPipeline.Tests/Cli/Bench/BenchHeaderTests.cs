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

        Assert.Contains($"Broker: `{Cluster}`. Everything but the broker (services, processors", remote, StringComparison.Ordinal);
        Assert.DoesNotContain("Everything (broker,", remote, StringComparison.Ordinal);
        Assert.Contains("Everything (broker, services, processors, the load producer and the output consumer) runs on this one machine.", local, StringComparison.Ordinal);
    }
}
