using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

/// <summary>
/// docs/operations.md: "Ctrl+C (SIGINT) and SIGTERM stop every verb within about 2 s"; a verb inside a Kafka call that
/// takes no cancellation is ended by System.CommandLine, exit 143 after SIGTERM. Until 2026-12-05 the verbs below made
/// their first Kafka call before their action had returned a Task, so System.CommandLine could not end them: they waited
/// out the call's 30 s and exited 1. Integration: it runs the tool as a child process, against a listener that accepts
/// the connection and never answers (a cluster gone silent).
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class VerbSignalTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("kafka", "topics", "list")]
    [InlineData("kafka", "topics", "ensure")]
    [InlineData("kafka", "topics", "check")]
    public async Task SIGTERM_while_the_verb_waits_for_a_silent_cluster_ends_it_with_143(params string[] verb)
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var start = ExternalProcess.Command("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "signal-pipeline.dll"), .. verb, "--bootstrap", $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            // Its Kafka client has connected: from here the verb waits for an answer that never comes.
            using var connection = await silent.AcceptTcpClientAsync().WaitAsync(Timeout);
            var kill = await ExternalProcess.RunAsync(ExternalProcess.Command("kill", "-TERM", process.Id.ToString(CultureInfo.InvariantCulture)), Timeout);
            Assert.Equal(0, kill.ExitCode);
            await process.WaitForExitAsync().WaitAsync(Timeout);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        Assert.True(process.ExitCode == 143, $"exit {process.ExitCode}\n--- stdout\n{await output}\n--- stderr\n{await error}");
    }
}
