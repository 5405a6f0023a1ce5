using System.Diagnostics;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// BENCH_CPU_SPLIT=1: the abuse scenario pins the services (filter service, gateway, bridge) to the machine's last CPU
/// and itself (the normal clients, the abusers) and the dev broker to the others, with <c>taskset -a</c> (every thread;
/// threads started later inherit it). On a shared machine this separates what the server does with the CPU it has
/// from the abusers and the bench taking that CPU away, the question the 2x target asks (in Kubernetes the abusers are
/// elsewhere and each service has its own CPU). Off by default and where there is no taskset or only one CPU.
/// </summary>
public sealed class AbuseCpuSplit
{
    private readonly int _cpus = Environment.ProcessorCount;

    private AbuseCpuSplit()
    {
    }

    /// <summary>The split if BENCH_CPU_SPLIT=1 and it can be made here, else null.</summary>
    public static AbuseCpuSplit? FromEnvironment()
        => Environment.GetEnvironmentVariable("BENCH_CPU_SPLIT") == "1" && Environment.ProcessorCount >= 2 && File.Exists("/usr/bin/taskset")
            ? new AbuseCpuSplit()
            : null;

    public string ServiceCpus => (_cpus - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public string ClientCpus => _cpus == 2 ? "0" : $"0-{_cpus - 2}";

    public string Describe() => $"services pinned to CPU {ServiceCpus}, the bench's clients and the dev broker to CPU {ClientCpus} (taskset)";

    public void PinClients(int processId) => Pin(processId, ClientCpus);

    public void PinService(int processId) => Pin(processId, ServiceCpus);

    /// <summary>Gives this process all CPUs back (the next scenarios run unpinned).</summary>
    public void Release() => Pin(Environment.ProcessId, $"0-{_cpus - 1}");

    private static void Pin(int processId, string cpus)
    {
        using var taskset = Process.Start(new ProcessStartInfo("taskset", ["-a", "-p", "-c", cpus, processId.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("Could not start taskset.");
        taskset.StandardOutput.ReadToEnd();
        var error = taskset.StandardError.ReadToEnd();
        taskset.WaitForExit();
        if (taskset.ExitCode != 0)
        {
            throw new InvalidOperationException($"taskset could not pin process {processId} to CPU {cpus}: {error.Trim()}");
        }
    }
}
