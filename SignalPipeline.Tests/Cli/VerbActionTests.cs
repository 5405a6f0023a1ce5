using System.CommandLine;
using SignalPipeline.Cli.Operations;

namespace SignalPipeline.Tests.Cli;

public sealed class VerbActionTests
{
    [Fact]
    public async Task AnHttpRequestThatTimesOutIsOneErrorLineWithExitOneNotAStackTrace()
    {
        // What HttpClient throws when its Timeout passes (filter's 100 s, streams list/show's 30 s): a cancellation
        // the user did not ask for, with a TimeoutException inside.
        var command = new Command("verb");
        VerbAction.Set(command, (_, _, _) => throw new TaskCanceledException(
            "The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.", new TimeoutException("The operation was canceled.")));

        var result = await CliRunner.RunAsync(command, "verb");

        Assert.True(result.ExitCode == ExitCodes.Failure, result.ToString());
        Assert.Equal(
            "error: HTTP: The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing." + Environment.NewLine,
            result.Error);
    }

    [Fact]
    public async Task ACancellationAfterCtrlCIsStillAnInterruption()
    {
        using var interrupt = new CancellationTokenSource();
        var command = new Command("verb");
        VerbAction.Set(command, async (_, _, cancellationToken) =>
        {
            await interrupt.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
            return ExitCodes.Success;
        }, ExitCodes.Interrupted);

        var result = await CliRunner.RunAsync(command, interrupt.Token, "verb");

        Assert.True(result.ExitCode == ExitCodes.Interrupted, result.ToString());
        Assert.Equal("interrupted" + Environment.NewLine, result.Error);
    }
}
