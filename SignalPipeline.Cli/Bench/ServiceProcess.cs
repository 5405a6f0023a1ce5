using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// One of the project's services started from its Release build as a child process (what the AppHost does, minus
/// the dashboard), with its output in a log file. Disposing sends SIGTERM and waits, like Kubernetes does.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ServiceProcess(string name, Process process, StreamWriter log, Uri url)
    {
        Name = name;
        _process = process;
        _log = log;
        Url = url;
    }

    public string Name { get; }

    public Uri Url { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The process's peak resident set so far (VmHWM of /proc/PID/status), in bytes; null where there is no /proc.</summary>
    public long? PeakRssBytes()
    {
        try
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(':', 2)[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Starts <c>{root}/{project}/bin/{configuration}/net10.0/{project}.dll</c> on a free loopback port and waits for /health.</summary>
    public static async Task<ServiceProcess> StartAsync(
        BenchEnvironment env, string project, string name, IReadOnlyDictionary<string, string> variables, CancellationToken cancellationToken)
    {
        var dll = env.ServiceDll(project);
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is missing: {env.BuildFirst}");
        }

        var url = new Uri($"http://127.0.0.1:{FreePort()}");
        var start = StartInfo(dll, project, url, variables);
        Directory.CreateDirectory(env.LogDirectory);
        var log = new StreamWriter(Path.Combine(env.LogDirectory, name + ".log"), append: false) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {name}.");
        var service = new ServiceProcess(name, process, log, url);
        process.OutputDataReceived += (_, e) => service.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => service.OnOutput(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await service.WaitHealthyAsync(TimeSpan.FromSeconds(60), cancellationToken);
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }

        return service;
    }

    /// <summary>
    /// How a service is started: the caller's environment, less a <c>ConnectionStrings__kafka</c> it may hold (an AppHost's
    /// shell, docs/operations.md), which every service reads before <c>KAFKA_BROKERS</c> (docs/kafka.md): the bench's
    /// processors and bridge ran against that cluster instead of the broker the bench gave them, until 2026-12-06.
    /// </summary>
    internal static ProcessStartInfo StartInfo(string dll, string project, Uri url, IReadOnlyDictionary<string, string> variables)
    {
        var start = new ProcessStartInfo("dotnet", [dll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        var connectionString = $"ConnectionStrings__{KafkaSettings.DefaultConnectionName}";
        foreach (var key in start.Environment.Keys.Where(k => string.Equals(k, connectionString, StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["ASPNETCORE_URLS"] = url.ToString();
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__FilterKafkaProcessor"] = "Information";
        start.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        if (project == "FilterKafkaProcessor")
        {
            // As the AppHost starts it (the caller's variables, --processor-env included, can override them).
            foreach (var (key, value) in ProcessorRuntime.Environment)
            {
                start.Environment[key] = value;
            }
        }

        foreach (var (key, value) in variables)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    /// <summary>
    /// For a processor: whether its latest consumer-group event (its "Assigned partitions" / "revoked" log lines) is an
    /// assignment, i.e. it is not waiting in a rebalance.
    /// </summary>
    public bool HoldsPartitions => Volatile.Read(ref _assignments) > Volatile.Read(ref _revocations);

    private int _assignments;
    private int _revocations;

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line.Contains("Assigned partitions", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _assignments);
        }
        else if (line.Contains("revoked", StringComparison.Ordinal) || line.Contains("lost", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _revocations);
        }

        lock (_log)
        {
            _log.WriteLine(line);
        }
    }

    private async Task WaitHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode}; see its log.");
            }

            try
            {
                using var response = await http.GetAsync(new Uri(Url, "/health"), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(200, cancellationToken);
        }

        throw new TimeoutException($"{Name} was not healthy within {timeout.TotalSeconds:0} s; see its log.");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, Sigterm);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private const int Sigterm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
