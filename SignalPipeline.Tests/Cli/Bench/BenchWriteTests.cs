using SignalPipeline.Cli.Bench;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// Which runs of <c>bench</c> rewrite docs/benchmarks.md's pipeline section: it is rewritten whole, so a run of some of
/// its scenarios or cases would replace the figures of the rest with "not run" (docs/benchmarks.md, "Cost per record");
/// and a --quick run (a smoke check) writes none of the file's sections unless --output names a file.
/// </summary>
public sealed class BenchWriteTests
{
    [Fact]
    public void Only_a_run_of_every_pipeline_scenario_and_case_rewrites_the_pipeline_section()
    {
        Assert.Null(BenchCommand.KeepsPipelineSection(BenchCommand.AllScenarios, caseFilter: null, outputGiven: false));
        Assert.Null(BenchCommand.KeepsPipelineSection(BenchCommand.PipelineScenarios, caseFilter: null, outputGiven: false));

        var records = BenchCommand.KeepsPipelineSection(["records"], caseFilter: null, outputGiven: false);
        Assert.NotNull(records);
        Assert.Contains("left out local, remote, scaled, http, bridge", records, StringComparison.Ordinal);
        Assert.Contains("--output FILE", records, StringComparison.Ordinal);

        var oneCase = BenchCommand.KeepsPipelineSection(BenchCommand.AllScenarios, caseFilter: "kalman, JSON", outputGiven: false);
        Assert.NotNull(oneCase);
        Assert.Contains("--case 'kalman, JSON'", oneCase, StringComparison.Ordinal);
    }

    [Fact]
    public void A_quick_run_leaves_every_section_of_the_file_alone_unless_output_names_one()
    {
        // A smoke check's figures (short windows, cases left out) must not replace measured ones, in any section.
        var kept = BenchCommand.KeepsFile(quick: true, outputGiven: false);
        Assert.NotNull(kept);
        Assert.Contains("--quick is a smoke check", kept, StringComparison.Ordinal);
        Assert.Contains("--output FILE", kept, StringComparison.Ordinal);
        Assert.Equal(kept, BenchCommand.KeepsPipelineSection(BenchCommand.AllScenarios, caseFilter: null, outputGiven: false, quick: true));

        Assert.Null(BenchCommand.KeepsFile(quick: false, outputGiven: false));
        Assert.Null(BenchCommand.KeepsFile(quick: true, outputGiven: true));
        Assert.Null(BenchCommand.KeepsPipelineSection(BenchCommand.AllScenarios, caseFilter: null, outputGiven: true, quick: true));
    }

    [Fact]
    public void A_file_named_with_output_is_written_whatever_ran()
    {
        Assert.Null(BenchCommand.KeepsPipelineSection(["records"], caseFilter: "64 samples", outputGiven: true));
        Assert.Null(BenchCommand.KeepsPipelineSection(["local"], caseFilter: null, outputGiven: true));
    }
}
