using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.ServiceDefaults;

/// <summary>
/// The built services as processes: a setting they refuse at start stops them with exit code 1 and a message naming
/// it, not .NET's unhandled-exception abort (exit 134). No broker is needed: the settings are checked before one is asked.
/// A stop signal during the start is a stop, exit 0.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class ServiceStartFailureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("WebSocketBridge", "Bridge__MaxConnections", "-1", "Bridge:MaxConnections")]
    [InlineData("FilterGateway", "FilterGateway__MaxConnections", "0", "FilterGateway:MaxConnections")]
    [InlineData("WebSocketBridge", "Kafka__Consumer__fetch.wait.maxx.ms", "10", "Kafka__Consumer__fetch.wait.maxx.ms: No such configuration property")]
    [InlineData("SignalGenerator", "Kafka__Producer__lingerr.ms", "10", "Kafka__Producer__lingerr.ms: No such configuration property")]
    [InlineData("FilterKafkaProcessor", "Kafka__Client__security.protocol", "bogus", "Kafka__Client__security.protocol: ")]
    public async Task A_setting_refused_at_start_exits_1_naming_it(string project, string setting, string value, string expected)
    {
        var start = ExternalProcess.Command("dotnet", RepositoryLayout.OutputAssembly(project));
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["KAFKA_BROKERS"] = "127.0.0.1:1"; // never asked: the settings stop the service first
        start.Environment[setting] = value;

        var run = await ExternalProcess.RunAsync(start, Timeout);

        var output = run.Output + run.Error;
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
        Assert.Contains(expected, output);
        Assert.Contains("crit: the service stopped: ", run.Error);
        Assert.DoesNotContain("Unhandled exception", output);
    }

    [Theory]
    [InlineData("WebSocketBridge")]
    [InlineData("FilterKafkaProcessor")]
    [InlineData("SignalGenerator")]
    public async Task SIGTERM_while_it_waits_for_Kafka_at_start_exits_0_without_saying_it_failed(string project)
    {
        var start = ExternalProcess.Command("dotnet", RepositoryLayout.OutputAssembly(project));
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["KAFKA_BROKERS"] = "127.0.0.1:1"; // nothing there: the start-up topic check waits for its answer
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        System.Diagnostics.DataReceivedEventHandler append = (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.OutputDataReceived += append;
        process.ErrorDataReceived += append;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string Output() { lock (output) { return output.ToString(); } }

        try
        {
            // The first refused connection is logged while the hosted services start (the topic check asks Kafka).
            await Poll.UntilAsync(() => Output().Contains("Connection refused", StringComparison.Ordinal) || process.HasExited, Timeout,
                () => $"a first refused connection; output:{Environment.NewLine}{Output()}");
            Assert.False(process.HasExited, $"exited ({(process.HasExited ? process.ExitCode : 0)}) before SIGTERM; output:{Environment.NewLine}{Output()}");
            var kill = await ExternalProcess.RunAsync(ExternalProcess.Command("kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)), Timeout);
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

        // Until 2026-12-04 a stop that cancelled the start (the bridge and the processor wait for the topic check before
        // they listen) exited 1 with "crit: the service stopped: a background service failed at start".
        process.WaitForExit(); // the output's last lines
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}; output:{Environment.NewLine}{Output()}");
        Assert.DoesNotContain("crit:", Output());
    }
}
