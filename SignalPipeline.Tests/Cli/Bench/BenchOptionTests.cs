using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// <c>signal-pipeline bench</c> refuses a bad option, or a start outside the repository, with one <c>error:</c> line and
/// exit 2 before anything runs (a run takes minutes). Each case runs the tool in a folder outside the repository, so
/// even a build that did not check an option stops at finding the repository instead of starting a bench.
/// Integration: it runs the tool as a child process (docs/testing.md: unit tests start no other program).
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BenchOptionTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("bench-options-").FullName;

    [Theory]
    [InlineData("error: unknown scenario(s): bogus.", "--scenario", "bogus")]
    [InlineData("error: --repeats must be 1 or more, was 0.", "--repeats", "0")]
    [InlineData("error: --load-nice must be 0 to 19, was 20.", "--load-nice", "20")]
    [InlineData("error: --processor-env 'Processor__MaxBatchBytes' is not KEY=VALUE.", "--processor-env", "Processor__MaxBatchBytes")]
    [InlineData("error: --scenario named no scenario. Known: local, records,", "--scenario", ",")]
    [InlineData("error: --case 'kalman, binray' matches no case of local. Cases: kalman, binary f64; kalman, JSON; lms(16), binary f64.", "--scenario", "local", "--case", "kalman, binray")]
    [InlineData("error: --case 'JSON' matches no case of local with --quick. Cases: kalman, binary f64; lms(16), binary f64.", "--scenario", "local", "--quick", "--case", "JSON")]
    [InlineData("error: --case 'kalman' selects pipeline cases, and the scenario(s) state, http have none (pipeline cases are in local, records, remote, scaled, bridge).", "--scenario", "state,http", "--case", "kalman")]
    [InlineData("error: Run the bench from inside the SignalPipeline repository")]
    public async Task ABadOptionOrPlaceIsNamedWithExitTwoBeforeAnythingRuns(string message, params string[] options)
    {
        var start = ExternalProcess.Command("dotnet", [Path.Combine(AppContext.BaseDirectory, "signal-pipeline.dll"), "bench", "--no-write", .. options]);
        start.WorkingDirectory = _folder;

        var result = await ExternalProcess.RunAsync(start, TimeSpan.FromMinutes(1));

        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}\n{result.Output}\n{result.Error}");
        Assert.Contains(message, result.Error);
        Assert.DoesNotContain("Unhandled exception", result.Error);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
