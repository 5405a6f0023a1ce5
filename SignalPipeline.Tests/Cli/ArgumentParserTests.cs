namespace SignalPipeline.Tests.Cli;

/// <summary>
/// The argument parser's own errors (docs/operations.md, "Exit codes"): a value not among those --help lists, an unknown
/// option or a missing required one is System.CommandLine's error with exit 1, before the verb runs (no Kafka is asked:
/// none is configured here, which the verb itself would refuse with exit 2).
/// </summary>
public sealed class ArgumentParserTests
{
    [Theory]
    [InlineData("Argument 'f16' not recognized. Must be one of:", "produce", "--stream", "s", "--format", "f16")]
    [InlineData("Argument 'wav' not recognized. Must be one of:", "kafka", "tail", "--wav-format", "wav")]
    [InlineData("Argument 'x' not recognized. Must be one of:", "filter", "--wav-format", "x")]
    [InlineData("Option '--stream' is required.", "produce", "--file", "signal.csv")]
    [InlineData("Unrecognized command or argument '--nope'.", "kafka", "lag", "--nope")]
    public async Task AParserErrorIsExitOneNamingTheArgumentBeforeTheVerbRuns(string message, params string[] args)
    {
        Assert.Null(Environment.GetEnvironmentVariable("KAFKA_BROKERS"));

        var result = await CliRunner.RunAsync(args);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.StartsWith(message, result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("error: ", result.Error, StringComparison.Ordinal);
    }
}
