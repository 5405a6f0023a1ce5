namespace SignalPipeline.Cli.Bench;

/// <summary>Starts what the abuse scenario needs (broker, one filter service, gateway, bridge), runs <see cref="AbuseLoad"/>, reads peak RSS, stops.</summary>
public static class AbuseRun
{
    // The Ingress's place: the gateway and the bridge believe X-Forwarded-For from loopback, where the bench's clients are.
    private static readonly KeyValuePair<string, string> TrustLoopback = new("ForwardedHeaders__KnownNetworks", "127.0.0.0/8");

    // In a pod limited to 512Mi the runtime caps its GC heap at 75% of the limit by itself; here nothing does, and a
    // GC left alone keeps garbage it could collect. The services get the pod's heap cap, so an overrun would crash them.
    private static readonly KeyValuePair<string, string> PodHeapLimit = new("DOTNET_GCHeapHardLimit", "0x18000000");

    /// <summary>
    /// The CPU count each service's runtime sees: its pod's CPU limit (1) makes the runtime see one CPU, and so use the
    /// workstation GC and a one-CPU thread pool; here it would see the machine's two (server GC with two heaps and two
    /// GC threads, which the CPU split then crowds onto one CPU). BENCH_SERVICE_CPUS overrides it (0: the machine's).
    /// </summary>
    public static readonly string ServiceCpus = Environment.GetEnvironmentVariable("BENCH_SERVICE_CPUS") ?? "1";

    private static Dictionary<string, string> PodEnv(Dictionary<string, string> variables)
    {
        variables[PodHeapLimit.Key] = PodHeapLimit.Value;
        if (ServiceCpus != "0")
        {
            variables["DOTNET_PROCESSOR_COUNT"] = ServiceCpus;
        }

        return variables;
    }

    public static async Task<AbuseResult> RunAsync(BenchEnvironment env, string? brokers, TimeSpan phase, CancellationToken cancellationToken)
    {
        var services = new List<ServiceProcess>();
        var split = AbuseCpuSplit.FromEnvironment();
        try
        {
            split?.PinClients(Environment.ProcessId);
            var bootstrap = await BenchRunner.BrokerAsync(env, brokers, services, cancellationToken);

            var service = await ServiceProcess.StartAsync(env, "FilterService", "filter-service", PodEnv([]), services, cancellationToken);
            var gatewayEnv = BenchRunner.GatewayEnv(service.Url);
            gatewayEnv[TrustLoopback.Key] = TrustLoopback.Value;
            PodEnv(gatewayEnv);
            gatewayEnv["FilterGateway__RateLimitPermitsPerSecond"] = "200";
            gatewayEnv["FilterGateway__RateLimitBurst"] = "400";
            var gateway = await ServiceProcess.StartAsync(env, "FilterGateway", "filter-gateway", gatewayEnv, services, cancellationToken);
            var bridge = await ServiceProcess.StartAsync(env, "WebSocketBridge", "websocket-bridge",
                PodEnv(new Dictionary<string, string> { ["KAFKA_BROKERS"] = bootstrap, [TrustLoopback.Key] = TrustLoopback.Value }), services, cancellationToken);

            if (split is not null)
            {
                Console.WriteLine($"  ({split.Describe()})");
                foreach (var process in new[] { service, gateway, bridge })
                {
                    split.PinService(process.ProcessId);
                }
            }

            var (baseline, abused, answers) = await new AbuseLoad(gateway.Url, service.Url, bridge.Url, bootstrap, phase,
                () => new[] { service, gateway, bridge }.ToDictionary(p => p.Name, p => CpuTime(p.ProcessId))).RunAsync(cancellationToken);
            var peaks = new Dictionary<string, long>();
            foreach (var process in new[] { service, gateway, bridge })
            {
                if (process.PeakRssBytes() is { } peak)
                {
                    peaks[process.Name] = peak;
                }
            }

            var alive = await AllHealthyAsync([service, gateway, bridge], cancellationToken);
            Console.WriteLine($"  => HTTP p99 {BenchRunner.Fmt(baseline.Http?.P99)} -> {BenchRunner.Fmt(abused.Http?.P99)} ms, /ws delay p99 " +
                              $"{BenchRunner.Fmt(baseline.FrameDelay?.P99)} -> {BenchRunner.Fmt(abused.FrameDelay?.P99)} ms, direct to the service p99 " +
                              $"{BenchRunner.Fmt(baseline.DirectHttp?.P99)} -> {BenchRunner.Fmt(abused.DirectHttp?.P99)} ms (p50 {BenchRunner.Fmt(baseline.Http?.P50)} -> {BenchRunner.Fmt(abused.Http?.P50)}), peak RSS " +
                              string.Join(", ", peaks.Select(p => $"{p.Key} {p.Value / (1024 * 1024)} MiB")) + $", all alive: {alive}");
            return new AbuseResult(baseline, abused, answers, peaks, alive, split?.Describe());
        }
        finally
        {
            split?.Release();
            await ServiceProcess.StopAllAsync(services, cancellationToken);
        }
    }

    private static TimeSpan CpuTime(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return process.TotalProcessorTime;
        }
        catch (ArgumentException)
        {
            return TimeSpan.Zero; // exited; AllHealthyAsync says so
        }
    }

    private static async Task<bool> AllHealthyAsync(IEnumerable<ServiceProcess> processes, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var process in processes)
        {
            if (process.HasExited)
            {
                return false;
            }

            try
            {
                using var response = await http.GetAsync(new Uri(process.Url, "/health"), cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    return false;
                }
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }

        return true;
    }
}
