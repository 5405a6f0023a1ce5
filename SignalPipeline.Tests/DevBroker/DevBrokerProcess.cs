using System.Diagnostics;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.DevBroker;

/// <summary>
/// The built SignalPipeline.DevBroker run as its own process on free ports, its output captured (so a pipe never fills
/// up and a failing test can show it), killed at dispose if still running.
/// </summary>
public sealed class DevBrokerProcess : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private readonly SynchronizedText _output = new();

    private DevBrokerProcess(Process process, int httpPort, int bootstrapPort)
    {
        Process = process;
        HttpPort = httpPort;
        BootstrapPort = bootstrapPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
        process.OutputDataReceived += (_, e) => _output.AppendLine(e.Data);
        process.ErrorDataReceived += (_, e) => _output.AppendLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public int HttpPort { get; }

    public int BootstrapPort { get; }

    public string BootstrapServers => $"127.0.0.1:{BootstrapPort}";

    public HttpClient Http { get; }

    /// <summary>Everything the process wrote so far.</summary>
    public string Output => _output.ToString();

    /// <summary>Starts it on free HTTP and bootstrap ports with <c>--Section:Key=value</c> style arguments.</summary>
    public static DevBrokerProcess Start(params string[] arguments)
    {
        var (httpPort, bootstrapPort) = (LoopbackPort.Free(), LoopbackPort.Free());
        var start = ExternalProcess.Command("dotnet",
            [RepositoryLayout.OutputAssembly("SignalPipeline.DevBroker"), $"--urls=http://127.0.0.1:{httpPort}", $"--DevBroker:BootstrapPort={bootstrapPort}", .. arguments]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        var process = Process.Start(start) ?? throw new InvalidOperationException("The dev broker did not start.");
        return new DevBrokerProcess(process, httpPort, bootstrapPort);
    }

    /// <summary>
    /// Starts it and waits for /health. A port can be taken between choosing it and the broker binding it (any
    /// process's outgoing connection may get that ephemeral port); then it starts again on new ports, three tries in all.
    /// </summary>
    public static async Task<DevBrokerProcess> StartHealthyAsync(params string[] arguments)
    {
        for (var attempt = 1; ; attempt++)
        {
            var broker = Start(arguments);
            try
            {
                await broker.WaitHealthyAsync();
                return broker;
            }
            catch (DevBrokerExitedException) when (attempt < 3 && broker.Output.Contains("Address already in use", StringComparison.Ordinal))
            {
                broker.Dispose();
            }
            catch
            {
                broker.Dispose();
                throw;
            }
        }
    }

    /// <summary>Waits for /health; fails at once, with the broker's output, if the process exits first.</summary>
    public async Task WaitHealthyAsync()
    {
        await Poll.UntilAsync(() => Process.HasExited || IsHealthy(), Timeout, () => $"/health to be Healthy; broker output:{Environment.NewLine}{Output}");
        if (Process.HasExited)
        {
            Process.WaitForExit(); // the output read so far, to the end
            throw new DevBrokerExitedException($"The dev broker exited (code {Process.ExitCode}) before it was healthy; output:{Environment.NewLine}{Output}");
        }
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        Http.Dispose();
        Process.Dispose();
    }

    private bool IsHealthy()
    {
        try
        {
            return Http.GetStringAsync("/health").GetAwaiter().GetResult() == "Healthy";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private sealed class DevBrokerExitedException(string message) : Exception(message);

    private sealed class SynchronizedText
    {
        private readonly System.Text.StringBuilder _text = new();

        public void AppendLine(string? line)
        {
            lock (_text)
            {
                _text.AppendLine(line);
            }
        }

        public override string ToString()
        {
            lock (_text)
            {
                return _text.ToString();
            }
        }
    }
}
