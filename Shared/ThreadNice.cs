using System.Runtime.InteropServices;

namespace SignalPipeline.Shared;

/// <summary>
/// The calling thread's Linux nice value, compiled into FilterService (its large requests' lane,
/// <c>BackgroundPriorityScheduler</c>) and into the CLI (the bench's load, <c>LoadPriority</c>) as a linked source file,
/// as <c>NetworkRule</c>. On Linux a nice value belongs to a thread (setpriority(2) with
/// <c>PRIO_PROCESS</c> and a thread id), and a new thread or child process starts with its creator's; raising one's own
/// nice value needs no privilege. Elsewhere there is none: every method says so by its result.
/// </summary>
internal static class ThreadNice
{
    /// <summary>The highest nice value (the lowest priority) Linux has.</summary>
    public const int Max = 19;

    private const int PrioProcess = 0;

    /// <summary>The calling thread's nice value; null where it cannot be read (not Linux).</summary>
    public static int? Current()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // -1 is also a nice value: it is an error only when errno says so.
        Marshal.SetLastPInvokeError(0);
        var nice = GetPriority(PrioProcess, GetTid());
        return nice == -1 && Marshal.GetLastPInvokeError() != 0 ? null : nice;
    }

    /// <summary>Sets the calling thread's nice value; false where that failed or there is none (not Linux).</summary>
    public static bool Set(int nice) => OperatingSystem.IsLinux() && SetPriority(PrioProcess, GetTid(), nice) == 0;

    // DllImport, not LibraryImport: the generated stubs need unsafe code, which these projects do not otherwise allow.
    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "getpriority", SetLastError = true)]
    private static extern int GetPriority(int which, int who);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
}
