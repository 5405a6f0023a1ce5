using SignalPipeline.Cli.Bench;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// <c>signal-pipeline bench</c> ends as the exit-code table of docs/operations.md says every verb does: a cluster that
/// does not answer is one <c>error:</c> line naming it, exit 1; Ctrl+C is <c>interrupted</c>, exit 130. Until 2026-12-05
/// the one was .NET's "Unhandled exception" and stack trace, the other exit 1 without a word (System.CommandLine's answer
/// to a cancelled verb) unless the services' stop took more than its 2 s. Both cases stop before any service starts.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BenchExitCodeTests(MockBrokerFixture broker) : IClassFixture<MockBrokerFixture>
{
    [Fact]
    public async Task ABrokerThatDoesNotAnswerIsOneErrorLineNamingItWithExitOne()
    {
        // Nothing listens on port 1: the mixed scenario's first metadata request gives up after its 10 s.
        var result = await CliRunner.RunAsync(BenchCommand.Create(), "bench", "--brokers", "127.0.0.1:1", "--scenario", "mixed", "--quick", "--no-write");

        Assert.True(result.ExitCode == 1, result.ToString());
        var error = Assert.Single(result.Error.Trim().Split('\n'));
        Assert.StartsWith("error: Kafka at 127.0.0.1:1 did not answer: ", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnInterruptedBenchSaysInterruptedWithExitCode130()
    {
        // Ctrl+C before the mixed scenario's stream configs are flushed: its first wait that observes the token.
        using var interrupt = new CancellationTokenSource();
        await interrupt.CancelAsync();

        var result = await CliRunner.RunAsync(BenchCommand.Create(), interrupt.Token, "bench", "--brokers", broker.Bootstrap, "--scenario", "mixed", "--quick", "--no-write");

        Assert.True(result.ExitCode == 130, result.ToString());
        Assert.Equal("interrupted", result.Error.Trim());
    }
}
