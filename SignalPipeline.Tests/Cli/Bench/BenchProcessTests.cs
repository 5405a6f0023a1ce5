using System.Diagnostics;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// The bench as a user runs it: <c>dotnet signal-pipeline.dll bench ...</c>, its own process, read from outside (its
/// stderr). In process, librdkafka's default log writes past the captured writers.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BenchProcessTests
{
    [Fact]
    public async Task A_bench_client_on_a_closed_port_reports_as_the_services_do_not_in_librdkafka_s_raw_lines()
    {
        // The pass-through copy's consumer and producer are the bench's own clients. Until 2026-12-07 they printed
        // librdkafka's raw lines ("%3|1796539174.540|FAIL|signal-pipeline-bench#consumer-1| ...") on every reconnect.
        using var bench = Start(Cli(), "bench", "passthrough-copy", "127.0.0.1:1");
        var stderr = bench.StandardError.ReadToEndAsync();
        await bench.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        var lines = (await stderr).Trim().Split('\n');
        Assert.True(bench.ExitCode == 1, string.Join('\n', lines));
        Assert.StartsWith("error: Kafka at 127.0.0.1:1 did not answer: ", lines[^1], StringComparison.Ordinal);
        // The producer is polled only in the copy loop, so here the factory's handler has nothing to say (a FAIL log line is
        // said once, from the error callback); before, librdkafka wrote "%3|...|FAIL|..." and "%3|...|ERROR|..." lines.
        Assert.All(lines[..^1], l => Assert.Matches(@"^kafka (warning|error): \[signal-pipeline-bench#(producer|consumer)-\d+\] ", l));
    }

    private static string Cli() => Path.Combine(Root(), "SignalPipeline.Cli", "bin", BenchExitCodeTests.Built, "net10.0", "signal-pipeline.dll");

    private static string Root()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory.FullName, "SignalPipeline.sln")))
        {
            directory = directory.Parent ?? throw new InvalidOperationException("SignalPipeline.sln not found above the test's folder.");
        }

        return directory.FullName;
    }

    private static Process Start(string dll, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Root() };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("KAFKA_BROKERS");
        return Process.Start(start)!;
    }
}
