using System.Globalization;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// CPU time used by the bench process and by each process it started (the dev broker, the worker: processor, pass-through
/// or Python peer, the services), read from <c>/proc</c>. On a shared 2-core machine the records/s of a case move with
/// the load; the CPU each process spends per record does much less, and it says who the ceiling belongs to (issue 14:
/// at 64-sample chunks the bench's own producer and output consumer used more CPU per record than the pass-through).
/// </summary>
public sealed class ProcessCpu
{
    /// <summary>The roles a process is counted under (<see cref="RoleOf"/>).</summary>
    public const string Load = "load", Broker = "broker", Worker = "worker";

    private readonly Dictionary<int, (string Role, double Seconds)> _start;

    private ProcessCpu(Dictionary<int, (string Role, double Seconds)> start) => _start = start;

    /// <summary>Where each process is now; null where there is no /proc (the report then leaves the columns empty).</summary>
    public static ProcessCpu? Snapshot()
    {
        var self = Environment.ProcessId;
        if (ReadSeconds(self) is not { } own)
        {
            return null;
        }

        var processes = new Dictionary<int, (string, double)> { [self] = (Load, own) };
        foreach (var child in Children(self))
        {
            if (ReadSeconds(child) is { } seconds)
            {
                processes[child] = (RoleOf(child), seconds);
            }
        }

        return new ProcessCpu(processes);
    }

    /// <summary>CPU seconds per role since this snapshot (processes that ended meanwhile are left out).</summary>
    public IReadOnlyDictionary<string, double> Since() => Used(_start.Select(p => (p.Value.Role, p.Value.Seconds, ReadSeconds(p.Key))));

    /// <summary>
    /// Each role's CPU seconds from its processes' readings at the snapshot and now (null: the process ended, adding
    /// nothing). Only roles some process had are keys: with <c>bench --brokers</c> no dev broker is a child of the bench,
    /// and the cluster's CPU is not measured rather than 0 (the records table shows "-"; until 2026-12-05 it showed 0.0).
    /// </summary>
    internal static Dictionary<string, double> Used(IEnumerable<(string Role, double Start, double? Now)> processes)
    {
        var used = new Dictionary<string, double>();
        foreach (var (role, start, now) in processes)
        {
            used[role] = used.GetValueOrDefault(role) + (now is { } seconds ? Math.Max(0, seconds - start) : 0);
        }

        return used;
    }

    private static string RoleOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains("SignalPipeline.DevBroker", StringComparison.Ordinal) ? Broker : Worker;
        }
        catch (IOException)
        {
            return Worker;
        }
    }

    private static IEnumerable<int> Children(int parent)
    {
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{parent}/task");
        }
        catch (IOException)
        {
            yield break;
        }

        foreach (var task in tasks)
        {
            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(task, "children"));
            }
            catch (IOException)
            {
                continue;
            }

            foreach (var child in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                yield return int.Parse(child, CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>utime + stime of /proc/PID/stat in seconds (clock ticks of 1/100 s, the Linux default).</summary>
    private static double? ReadSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");

            // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
