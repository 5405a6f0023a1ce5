using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.ServiceDefaults;

/// <summary>
/// The built services as processes: a setting they refuse at start stops them with exit code 1 and one line naming
/// it, not .NET's unhandled-exception abort (exit 134) or the host's stack trace. No broker is needed: the settings are checked before one is asked.
/// A stop signal during the start is a stop, exit 0.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class ServiceStartFailureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private const string Librdkafka = " (librdkafka's properties and values: https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md).";
    private const string NotAnAddress = "ForwardedHeaders:KnownProxies: 'bogus' is not an IP address (IPv4 as four decimal numbers such as 10.0.0.7, or IPv6).";

    /// <summary>
    /// Every service, for a setting out of its range, a librdkafka property (the services with Kafka clients) and a setting
    /// of the service defaults: the whole output is the one <c>crit:</c> line, in the generated validator's form
    /// (<c>Member: Section:Member = value ...</c>). Until 2026-12-05 the generator, and the processor and the filter service
    /// for ForwardedHeaders, first logged <c>Hosting failed to start</c> with the stack trace (the others' options were read
    /// by Kestrel's setup in <c>Build()</c>, before the host started); the generator, the processor and the bridge did so
    /// for a librdkafka property (the bridge with two more from its consumer); the bridge and the filter service
    /// wrote <c>DataAnnotation validation failed for '...' members: ... with the error: '...'</c>. With two classes refused, the
    /// processor, the bridge, the gateway and the filter service named only the one Kestrel's setup read inside <c>Build()</c>
    /// (<c>ServiceFailure.BuildCheckingSettings</c> since).
    /// </summary>
    [Theory]
    [InlineData("SignalGenerator", "Generator__Rate=-1", "Rate: Generator:Rate = -1 is out of range: a finite number >= 0.")]
    [InlineData("SignalGenerator", "Kafka__Producer__lingerr.ms=10", "Kafka__Producer__lingerr.ms: No such configuration property: \"lingerr.ms\"" + Librdkafka)]
    [InlineData("SignalGenerator", "ForwardedHeaders__KnownProxies=bogus", NotAnAddress)]
    // Two options classes refused: both, in the order they were registered, joined by "; " as one class's refusals are.
    [InlineData("SignalGenerator", "Generator__Rate=-1|ForwardedHeaders__KnownProxies=bogus", NotAnAddress + "; Rate: Generator:Rate = -1 is out of range: a finite number >= 0.")]
    [InlineData("WebSocketBridge", "Bridge__MaxConnections=-1", "MaxConnections: Bridge:MaxConnections = -1 is out of range [1, 1000000].")]
    [InlineData("WebSocketBridge", "Bridge__FilterStateTimeoutMilliseconds=5", "FilterStateTimeoutMilliseconds: Bridge:FilterStateTimeoutMilliseconds = 5 is out of range [100, 60000].")]
    // Two classes, one of them read by Kestrel's setup inside Build() (each row below with "|" too): both named.
    [InlineData("WebSocketBridge", "Bridge__MaxConnections=-1|Bridge__FilterStateTimeoutMilliseconds=5", "MaxConnections: Bridge:MaxConnections = -1 is out of range [1, 1000000].; FilterStateTimeoutMilliseconds: Bridge:FilterStateTimeoutMilliseconds = 5 is out of range [100, 60000].")]
    // OUTPUT_TOPIC set but blank is refused as the processor refuses it (until 2026-12-06 the bridge took "" as unset and
    // read sample-output).
    [InlineData("WebSocketBridge", "OUTPUT_TOPIC=", "Topic: Bridge:Topic (OUTPUT_TOPIC) is empty: name the processor's output topic (sample-output by default).")]
    [InlineData("WebSocketBridge", "OUTPUT_TOPIC= ", "Topic: Bridge:Topic (OUTPUT_TOPIC) is empty: name the processor's output topic (sample-output by default).")]
    [InlineData("WebSocketBridge", "Kafka__Consumer__fetch.wait.maxx.ms=10", "Kafka__Consumer__fetch.wait.maxx.ms: No such configuration property: \"fetch.wait.maxx.ms\"" + Librdkafka)]
    [InlineData("FilterKafkaProcessor", "Processor__LingerMs=-1", "LingerMs: Processor:LingerMs = -1 is out of range [0, 60000].")]
    // A value the configuration binder cannot convert: its message, and the values an enum or a bool takes (until
    // 2026-12-06 the line stopped after the type's name, which says nothing of local/remote or Json/Float64/Float32).
    [InlineData("FilterKafkaProcessor", "FILTER_MODE=bogus", "Failed to convert configuration value 'bogus' at 'FILTER_MODE' to type 'FilterKafkaProcessor.FilterMode'. Use one of: Local, Remote (any case).")]
    [InlineData("SignalGenerator", "Generator__Format=bogus", "Failed to convert configuration value 'bogus' at 'Generator:Format' to type 'SignalPipeline.Messages.SampleFormat'. Use one of: Json, Float64, Float32 (any case).")]
    [InlineData("SignalGenerator", "Generator__Enabled=maybe", "Failed to convert configuration value 'maybe' at 'Generator:Enabled' to type 'System.Boolean'. Use true or false.")]
    [InlineData("FilterKafkaProcessor", "Processor__LingerMs=soon", "Failed to convert configuration value 'soon' at 'Processor:LingerMs' to type 'System.Int32'. Use a whole number.")]
    // The bridge's: BridgeOptions is bound inside Build() (Kestrel's setup reads Bridge:MaxHttpConnections), so any of its
    // settings the binder cannot convert is thrown from there; FilterStateOptions (also the Bridge section) at the checks after it.
    [InlineData("WebSocketBridge", "Bridge__MaxHttpConnections=lots", "Failed to convert configuration value 'lots' at 'Bridge:MaxHttpConnections' to type 'System.Int32'. Use a whole number.")]
    [InlineData("WebSocketBridge", "Bridge__ListClients=maybe", "Failed to convert configuration value 'maybe' at 'Bridge:ListClients' to type 'System.Boolean'. Use true or false.")]
    [InlineData("WebSocketBridge", "Bridge__MaxHeldFrameBytes=1GB", "Failed to convert configuration value '1GB' at 'Bridge:MaxHeldFrameBytes' to type 'System.Int64'. Use a whole number.")]
    [InlineData("WebSocketBridge", "Bridge__FilterStateTimeoutMilliseconds=soon", "Failed to convert configuration value 'soon' at 'Bridge:FilterStateTimeoutMilliseconds' to type 'System.Int32'. Use a whole number.")]
    [InlineData("FilterGateway", "FilterGateway__LargeRequestQueueTimeout=2s", "Failed to convert configuration value '2s' at 'FilterGateway:LargeRequestQueueTimeout' to type 'System.TimeSpan'. Use a time span, [d.]hh:mm:ss[.fffffff] (00:00:05 is 5 s).")]
    [InlineData("FilterKafkaProcessor", "Kafka__Client__security.protocol=bogus", "Kafka__Client__security.protocol: Invalid value \"bogus\" for configuration property \"security.protocol\"" + Librdkafka)]
    [InlineData("FilterKafkaProcessor", "ForwardedHeaders__KnownProxies=bogus", NotAnAddress)]
    [InlineData("FilterKafkaProcessor", "Processor__LingerMs=-1|ForwardedHeaders__KnownProxies=bogus", NotAnAddress + "; LingerMs: Processor:LingerMs = -1 is out of range [0, 60000].")]
    [InlineData("FilterGateway", "FilterGateway__MaxConnections=0", "MaxConnections: FilterGateway:MaxConnections = 0 is out of range [1, 1000000].")]
    [InlineData("FilterGateway", "ForwardedHeaders__KnownProxies=bogus", NotAnAddress)]
    [InlineData("FilterGateway", "FilterGateway__MaxConnections=0|ForwardedHeaders__KnownProxies=bogus", NotAnAddress + "; MaxConnections: FilterGateway:MaxConnections = 0 is out of range [1, 1000000].")]
    [InlineData("FilterService", "FilterService__MaxConnections=0", "MaxConnections: FilterService:MaxConnections = 0 is out of range [1, 1000000].")]
    [InlineData("FilterService", "ForwardedHeaders__KnownProxies=bogus", NotAnAddress)]
    [InlineData("FilterService", "FilterService__MaxConnections=0|ForwardedHeaders__KnownProxies=bogus", NotAnAddress + "; MaxConnections: FilterService:MaxConnections = 0 is out of range [1, 1000000].")]
    public async Task A_setting_refused_at_start_exits_1_with_one_line_naming_it(string project, string settings, string message)
    {
        var start = ExternalProcess.Service(project);
        start.Environment["KAFKA_BROKERS"] = "127.0.0.1:1"; // never asked: the settings stop the service first
        foreach (var setting in settings.Split('|'))
        {
            start.Environment[setting[..setting.IndexOf('=', StringComparison.Ordinal)]] = setting[(setting.IndexOf('=', StringComparison.Ordinal) + 1)..];
        }

        var run = await ExternalProcess.RunAsync(start, Timeout);

        var output = run.Output + run.Error;
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
        // Nothing else: no "Hosting failed to start", no stack trace, no consumer's own report of the same refusal.
        Assert.Equal($"crit: the service stopped: {message}", output.TrimEnd());
    }

    [Theory]
    [InlineData("WebSocketBridge")]
    [InlineData("FilterKafkaProcessor")]
    [InlineData("SignalGenerator")]
    public async Task SIGTERM_while_it_waits_for_Kafka_at_start_exits_0_without_saying_it_failed(string project)
    {
        var start = ExternalProcess.Service(project);
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
