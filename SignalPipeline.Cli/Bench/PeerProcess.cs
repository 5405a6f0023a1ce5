using System.Diagnostics;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// A worker of the "records" scenario that is not one of the project's services, as a child process of the bench with
/// its output in artifacts/bench-logs/NAME.log: the pass-through copy (<see cref="PassthroughCopy"/>, this CLI's hidden
/// <c>bench passthrough-copy</c>) or the Python peer (<c>kalman_peer.py</c> beside this file, which needs Debian's
/// <c>python3-confluent-kafka</c> for <c>/usr/bin/python3</c>). Neither has a health endpoint: the load's settle rounds
/// wait until chunks come out. <see cref="StopAsync"/> sends SIGTERM and waits.
/// </summary>
public sealed class PeerProcess
{
    /// <summary>How long a stop waits after SIGTERM before it kills (the Python peer flushes and commits).</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    public const string Python = "/usr/bin/python3";
    public const string PythonMissing = "/usr/bin/python3 cannot import confluent_kafka (apt-get install python3-confluent-kafka)";

    private readonly Process _process;
    private readonly StreamWriter _log;

    private PeerProcess(Process process, StreamWriter log) => (_process, _log) = (process, log);

    /// <summary>Whether <see cref="Python"/> can import confluent_kafka (else the Python case is skipped).</summary>
    public static bool PythonReady()
    {
        try
        {
            using var check = LoadPriority.StartProcess(new ProcessStartInfo(Python, ["-c", "import confluent_kafka"]) { RedirectStandardError = true });
            if (check is null)
            {
                return false;
            }

            check.WaitForExit(10_000);
            return check.HasExited && check.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    public static PeerProcess StartPython(BenchEnvironment env, string bootstrap)
        => Start(env, "python-peer", Python, [Path.Combine(env.Root, "SignalPipeline.Cli", "Bench", "kalman_peer.py"), bootstrap]);

    /// <summary>
    /// The pass-through with the processor's GC settings too (FilterKafkaProcessor.csproj: workstation GC, RetainVM, a 2 MiB
    /// large-object threshold; <see cref="ProcessorRuntime"/>: the gen0 budget), so the ceiling differs from the processor
    /// only in what it does per record.
    /// </summary>
    public static PeerProcess StartPassthrough(BenchEnvironment env, string bootstrap)
        => Start(env, "passthrough", "dotnet", [typeof(PeerProcess).Assembly.Location, "bench", PassthroughCopy.CommandName, bootstrap],
            new Dictionary<string, string>(ProcessorRuntime.Environment) { ["DOTNET_gcServer"] = "0", ["DOTNET_GCRetainVM"] = "1", ["DOTNET_GCLOHThreshold"] = "200000" });

    private static PeerProcess Start(BenchEnvironment env, string name, string file, string[] arguments, Dictionary<string, string>? variables = null)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in variables ?? [])
        {
            start.Environment[key] = value; // GC settings are read at start; hexadecimal, as the runtime expects
        }

        Directory.CreateDirectory(env.LogDirectory);
        var log = new StreamWriter(Path.Combine(env.LogDirectory, name + ".log"), append: false) { AutoFlush = true };
        var process = LoadPriority.StartProcess(start) ?? throw new InvalidOperationException($"Could not start {name}.");
        var peer = new PeerProcess(process, log);
        process.OutputDataReceived += (_, e) => peer.Write(e.Data);
        process.ErrorDataReceived += (_, e) => peer.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return peer;
    }

    private void Write(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.WriteLine(line);
            }
        }
    }

    /// <summary>
    /// SIGTERM, then a kill if it still runs after <paramref name="grace"/> (<see cref="StopGrace"/>, or
    /// <see cref="ServiceProcess.InterruptedStopGrace"/> after an interrupt); then its log is closed.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        await ChildProcesses.StopAsync([_process], grace);
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }
}
