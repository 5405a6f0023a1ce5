using Confluent.Kafka;
using SignalPipeline.Cli.Bench;
using SignalPipeline.DevBroker;
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
    // The services' build the bench checks before it runs: the one these tests were built with (CI tests the Debug build
    // before its bench smoke builds Release).
#if DEBUG
    internal const string Built = "Debug";
#else
    internal const string Built = "Release";
#endif

    [Fact]
    public async Task ABrokerThatDoesNotAnswerIsOneErrorLineNamingItWithExitOne()
    {
        // Nothing listens on port 1: the mixed scenario's first metadata request gives up after its 10 s.
        var result = await CliRunner.RunAsync(BenchCommand.Create(), "bench", "--configuration", Built, "--brokers", "127.0.0.1:1", "--scenario", "mixed", "--quick", "--no-write");

        Assert.True(result.ExitCode == 1, result.ToString());
        var error = Assert.Single(result.Error.Trim().Split('\n'));
        Assert.StartsWith("error: Kafka at 127.0.0.1:1 did not answer: ", error, StringComparison.Ordinal);
        Assert.Contains("Check --brokers or KAFKA_BROKERS", error, StringComparison.Ordinal); // bench's option, not --bootstrap
        Assert.DoesNotContain("ConnectionStrings__kafka", error, StringComparison.Ordinal); // which the bench never reads
    }

    [Fact]
    public async Task ARecordsRunOnABrokerThatDoesNotAnswerIsOneErrorLineNamingItBeforeAnyServiceStarts()
    {
        // The pipeline cases asked nothing of the cluster before starting a processor: until 2026-12-05 this was
        // "filter-kafka-processor-0 was not healthy within 60 s; see its log." a minute later.
        var result = await CliRunner.RunAsync(BenchCommand.Create(), "bench", "--configuration", Built, "--brokers", "127.0.0.1:1", "--scenario", "records",
            "--case", "kalman, binary f64, 256", "--quick", "--no-write");

        Assert.True(result.ExitCode == 1, result.ToString());
        var error = Assert.Single(result.Error.Trim().Split('\n'));
        Assert.StartsWith("error: Kafka at 127.0.0.1:1 did not answer: ", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStateRunOnABrokerThatDoesNotAnswerIsOneErrorLineNamingItBeforeTheProcessorStarts()
    {
        // The state scenario (the first of a plain `bench`) started its processor first: until 2026-12-06 this was
        // "state-processor-1 was not healthy within 60 s; see its log." a minute later.
        var result = await CliRunner.RunAsync(BenchCommand.Create(), "bench", "--configuration", Built, "--brokers", "127.0.0.1:1", "--scenario", "state",
            "--quick", "--no-write");

        Assert.True(result.ExitCode == 1, result.ToString());
        var error = Assert.Single(result.Error.Trim().Split('\n'));
        Assert.StartsWith("error: Kafka at 127.0.0.1:1 did not answer: ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("state-processor", result.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AConfigurationThatWasNotBuiltIsOneErrorLineNamingItWithExitTwoBeforeAnythingRuns()
    {
        // Until 2026-12-06 the first service's start threw: .NET's "Unhandled exception" and stack trace, exit 1.
        var result = await CliRunner.RunAsync(BenchCommand.Create(), "bench", "--configuration", "NotBuilt", "--scenario", "local", "--case", "lms", "--quick", "--no-write");

        Assert.True(result.ExitCode == 2, result.ToString());
        var error = Assert.Single(result.Error.Trim().Split('\n'));
        Assert.StartsWith("error: the NotBuilt build of SignalPipeline.DevBroker, FilterKafkaProcessor, FilterService, FilterGateway, WebSocketBridge is missing under ", error, StringComparison.Ordinal);
        Assert.EndsWith("build first (`dotnet build -c NotBuilt SignalPipeline.sln`, or scripts/bench.sh).", error, StringComparison.Ordinal);
        Assert.DoesNotContain("local:", result.Output, StringComparison.Ordinal); // no case started
    }

    [Fact]
    public async Task AnInterruptedBenchSaysInterruptedWithExitCode130()
    {
        // Ctrl+C before the mixed scenario's stream configs are flushed: its first wait that observes the token.
        using var interrupt = new CancellationTokenSource();
        await interrupt.CancelAsync();

        var result = await CliRunner.RunAsync(BenchCommand.Create(), interrupt.Token, "bench", "--configuration", Built, "--brokers", broker.Bootstrap, "--scenario", "mixed", "--quick", "--no-write");

        Assert.True(result.ExitCode == 130, result.ToString());
        Assert.Equal("interrupted", result.Error.Trim());
    }

    // The hidden pass-through copy the records scenario starts as its own process ends as bench does. Until 2026-12-05 a
    // silent cluster was .NET's stack trace, empty BROKERS the same after 10 s, a missing input a stack trace or a copy
    // that never ended, and SIGTERM (its normal end) exit 0 without a word.

    [Fact]
    public async Task APassthroughCopyWhoseBrokerDoesNotAnswerIsOneErrorLineNamingItWithExitOne()
    {
        var result = await CliRunner.RunAsync(BenchCommand.Create(), "bench", PassthroughCopy.CommandName, "127.0.0.1:1");

        Assert.True(result.ExitCode == 1, result.ToString());
        var error = Assert.Single(result.Error.Trim().Split('\n'));
        Assert.StartsWith("error: Kafka at 127.0.0.1:1 did not answer: ", error, StringComparison.Ordinal);
        Assert.Contains("Check BROKERS or KAFKA_BROKERS", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APassthroughCopyWithEmptyBrokersIsExitTwoNamingIt()
    {
        var result = await CliRunner.RunAsync(BenchCommand.Create(), "bench", PassthroughCopy.CommandName, " ");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("error: BROKERS is empty: give the Kafka bootstrap servers, host:port[,host:port].", result.Error.Trim());
    }

    [Fact]
    public async Task APassthroughCopyOnAClusterWithoutItsTopicsIsExitTwoNamingTheTopicAndCreatesNone()
    {
        using var empty = MockKafkaCluster.Start(1);

        var result = await CliRunner.RunAsync(BenchCommand.Create(), "bench", PassthroughCopy.CommandName, empty.BootstrapServers);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal($"error: topic 'sample-input' does not exist on {empty.BootstrapServers}.", result.Error.Trim());
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = empty.BootstrapServers }).Build();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(30)).Topics, t => t.Topic is "sample-input" or "sample-output");
    }

    [Fact]
    public async Task AnInterruptedPassthroughCopySaysHowManyItCopiedAndInterruptedWithExitCode130()
    {
        // SIGTERM (the bench's way to stop it) or Ctrl+C: System.CommandLine cancels the verb's token either way.
        using var interrupt = new CancellationTokenSource();
        await interrupt.CancelAsync();

        var result = await CliRunner.RunAsync(BenchCommand.Create(), interrupt.Token, "bench", PassthroughCopy.CommandName, broker.Bootstrap);

        Assert.True(result.ExitCode == 130, result.ToString());
        Assert.Equal("interrupted", result.Error.Trim());
        Assert.Equal("pass-through: copied 0 records", result.Output.Trim());
    }
}
