using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// One of the project's services started from its Release build as a child process (what the AppHost does, minus
/// the dashboard), with its output in a log file. Disposing sends SIGTERM and waits, like Kubernetes does; a scenario stops
/// its services together (<see cref="StopAllAsync"/>).
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    /// <summary>How long a stop waits after SIGTERM before it kills: a processor finishes its batch, commits and leaves its group.</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The same after an interrupt (Ctrl+C, SIGTERM): System.CommandLine ends the bench 2 s after the signal, so whatever
    /// still runs at 1 s is killed while the bench is there to do it. The run is abandoned anyway; until 2026-12-06 the
    /// services were stopped one after another, up to 20 s each, and what the bench had not reached when it ended was
    /// never told to stop.
    /// </summary>
    public static readonly TimeSpan InterruptedStopGrace = TimeSpan.FromSeconds(1);

    private ServiceProcess(string name, string project, Process process, StreamWriter log, Uri url)
    {
        Name = name;
        Project = project;
        _process = process;
        _log = log;
        Url = url;
    }

    public string Name { get; }

    /// <summary>The project it was started from (<see cref="BenchEnvironment.ServiceProjects"/>).</summary>
    public string Project { get; }

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

    /// <summary>
    /// Starts <c>{root}/{project}/bin/{configuration}/net10.0/{project}.dll</c> on a free loopback port and waits for /health.
    /// The service joins <paramref name="services"/> as soon as its process runs, so the scenario's stop
    /// (<see cref="StopAllAsync"/>) also stops one that is still starting, or that never became healthy.
    /// </summary>
    public static async Task<ServiceProcess> StartAsync(
        BenchEnvironment env, string project, string name, IReadOnlyDictionary<string, string> variables, List<ServiceProcess> services,
        CancellationToken cancellationToken)
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
        var process = LoadPriority.StartProcess(start) ?? throw new InvalidOperationException($"Could not start {name}.");
        var service = new ServiceProcess(name, project, process, log, url);
        process.OutputDataReceived += (_, e) => service.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => service.OnOutput(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        services.Add(service);
        await service.WaitHealthyAsync(TimeSpan.FromSeconds(60), cancellationToken);
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
        await ChildProcesses.StopAsync([_process], StopGrace);
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    /// <summary>
    /// Stops a scenario's services (and disposes them). After <paramref name="cancellationToken"/> was cancelled (an
    /// interrupt) all at once: one SIGTERM each, one wait for all of them, <see cref="InterruptedStopGrace"/>, then a kill.
    /// Otherwise the Kafka clients together first, with <see cref="StopGrace"/> (they commit and leave their groups while
    /// the broker is there), then the dev broker.
    /// </summary>
    public static async Task StopAllAsync(IReadOnlyCollection<ServiceProcess> services, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            await ChildProcesses.StopAsync([.. services.Select(s => s._process)], InterruptedStopGrace);
        }
        else
        {
            await ChildProcesses.StopAsync([.. services.Where(s => !s.IsBroker).Select(s => s._process)], StopGrace);
            await ChildProcesses.StopAsync([.. services.Where(s => s.IsBroker).Select(s => s._process)], StopGrace);
        }

        foreach (var service in services)
        {
            await service.DisposeAsync(); // each has exited: nothing is waited for again
        }
    }

    private bool IsBroker => Project == "SignalPipeline.DevBroker";

    /// <summary>
    /// A loopback port free a moment ago, below the kernel's ephemeral range (Linux's <c>net.ipv4.ip_local_port_range</c>,
    /// 32768-60999 by default) when there is room below it. A port that bind(0) gives comes from that range, and any
    /// outbound connection (the bench's Kafka clients open many) could take it before the service binds it: the dev broker
    /// once failed its start so in CI (<c>The dev broker cannot listen on DevBroker:BootstrapPort=45585: Address already
    /// in use</c>, 2026-12-07). Elsewhere, or when no port below the range is free, bind(0)'s.
    /// </summary>
    public static int FreePort()
    {
        if (EphemeralRangeStart() is { } start && start > LowestPort + 1000)
        {
            for (var attempt = 0; attempt < 50; attempt++)
            {
                var port = Random.Shared.Next(LowestPort, start);
                if (CanListen(port))
                {
                    return port;
                }
            }
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The lowest port <see cref="FreePort"/> picks: well above the ports services are known by.</summary>
    internal const int LowestPort = 10_000;

    /// <summary>The first port of the kernel's ephemeral range, or null where it cannot be read (not Linux).</summary>
    internal static int? EphemeralRangeStart()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return range.Length > 0 && int.TryParse(range[0], System.Globalization.CultureInfo.InvariantCulture, out var start) ? start : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool CanListen(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

}

/// <summary>How the bench stops the processes it started (its services, its pass-through copy, its Python peer).</summary>
internal static class ChildProcesses
{
    private const int Sigterm = 15;

    /// <summary>
    /// SIGTERM to each of <paramref name="processes"/> still running, all at once; then one wait for all of them, bounded by
    /// <paramref name="grace"/>; whatever still runs then is killed with its children.
    /// </summary>
    public static async Task StopAsync(IReadOnlyCollection<Process> processes, TimeSpan grace)
    {
        var running = processes.Where(p => !p.HasExited).ToList();
        foreach (var process in running)
        {
            _ = Kill(process.Id, Sigterm);
        }

        using var timeout = new CancellationTokenSource(grace);
        await Task.WhenAll(running.Select(async process =>
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }));
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
