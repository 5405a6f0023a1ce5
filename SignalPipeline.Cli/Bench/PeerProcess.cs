using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// The Python peer of issue 14 (<c>kalman_peer.py</c> beside this file) as a child process of the bench, its output in
/// artifacts/bench-logs/python-peer.log. It needs Debian's <c>python3-confluent-kafka</c> for <c>/usr/bin/python3</c>.
/// </summary>
public sealed class PythonPeer : IAsyncDisposable
{
    public const string Interpreter = "/usr/bin/python3";
    public const string Missing = "/usr/bin/python3 cannot import confluent_kafka (apt-get install python3-confluent-kafka)";

    private readonly Process _process;
    private readonly StreamWriter _log;

    private PythonPeer(Process process, StreamWriter log) => (_process, _log) = (process, log);

    /// <summary>The interpreter when it can import confluent_kafka; null otherwise (the case is then skipped).</summary>
    public static string? Find()
    {
        try
        {
            using var check = Process.Start(new ProcessStartInfo(Interpreter, ["-c", "import confluent_kafka"]) { RedirectStandardError = true });
            if (check is null)
            {
                return null;
            }

            check.WaitForExit(10_000);
            return check.HasExited && check.ExitCode == 0 ? Interpreter : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    public static Task<PythonPeer> StartAsync(BenchEnvironment env, string bootstrap, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var script = Path.Combine(env.Root, "SignalPipeline.Cli", "Bench", "kalman_peer.py");
        var start = new ProcessStartInfo(Interpreter, [script, bootstrap]) { RedirectStandardOutput = true, RedirectStandardError = true };
        Directory.CreateDirectory(env.LogDirectory);
        var log = new StreamWriter(Path.Combine(env.LogDirectory, "python-peer.log"), append: false) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the Python peer.");
        var peer = new PythonPeer(process, log);
        process.OutputDataReceived += (_, e) => peer.Write(e.Data);
        process.ErrorDataReceived += (_, e) => peer.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // No health endpoint: the load's settle rounds wait until chunks come out.
        return Task.FromResult(peer);
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

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 15);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
            }
        }

        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
