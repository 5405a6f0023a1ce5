using System.Collections.Concurrent;
using System.Diagnostics;
using SignalPipeline.Shared;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// The bench's load (its producer and its output consumer, <see cref="PipelineLoad"/>) runs at a lower CPU priority than
/// the processes it measures: on the 2-core host they share, a processor's stream thread waited for a core behind the
/// load's threads 27 % of the time (issue 14, docs/benchmarks.md). With the load niced the processes under test run
/// first and the load takes the CPU they leave, as when the producers run on other machines (the issue's own figures
/// were taken with the input preloaded, no producer running).
/// <para>
/// On Linux a nice value belongs to a thread, and a new thread or child process starts with its creator's
/// (setpriority(2), NOTES). So the load lowers its own threads (<see cref="LowerCurrentThread"/>; the threads they
/// create, librdkafka's among them, inherit it), and every process the bench starts is started by one thread that is
/// never lowered (<see cref="StartProcess"/>): a continuation or a thread-pool thread created by a lowered thread
/// would otherwise start the next case's processor at the load's priority.
/// </para>
/// </summary>
public static class LoadPriority
{
    /// <summary>The highest nice value (the lowest priority) Linux has.</summary>
    public const int MaxNice = ThreadNice.Max;

    /// <summary>
    /// What <c>bench --load-nice</c> adds to the load's nice value by default: all it can, so the load gets only what the
    /// measured processes leave (at 64 samples a chunk 9.28M samples/s with 10, 9.63M with 19, docs/benchmarks.md).
    /// </summary>
    public const int DefaultNice = MaxNice;

    private static readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process?> Started)> Starts = new();

    private static readonly Lazy<Thread> Starter = new(() =>
    {
        var thread = new Thread(() =>
        {
            foreach (var (start, started) in Starts.GetConsumingEnumerable())
            {
                try
                {
                    started.SetResult(Process.Start(start));
                }
                catch (Exception e)
                {
                    started.SetException(e);
                }
            }
        })
        {
            IsBackground = true,
            Name = "bench process starter",
        };
        thread.Start();
        return thread;
    });

    /// <summary>
    /// Creates the thread that starts the bench's processes, from the calling thread (so at its priority): the bench
    /// calls this before any load runs.
    /// </summary>
    public static void Prepare() => _ = Starter.Value;

    /// <summary><see cref="Process.Start(ProcessStartInfo)"/> on the bench's process-starting thread, at the bench's own priority.</summary>
    public static Process? StartProcess(ProcessStartInfo start)
    {
        ArgumentNullException.ThrowIfNull(start);
        Prepare();
        var started = new TaskCompletionSource<Process?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Starts.Add((start, started));
        return started.Task.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Adds <paramref name="nice"/> to the calling thread's nice value (at most <see cref="MaxNice"/>); the new value, or
    /// null where threads have no nice value of their own (not Linux) or the call failed. 0 changes nothing.
    /// </summary>
    public static int? LowerCurrentThread(int nice)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nice);
        if (CurrentThreadNice() is not { } current)
        {
            return null;
        }

        var target = Math.Min(MaxNice, current + nice);
        return target == current || ThreadNice.Set(target) ? target : null;
    }

    /// <summary>The calling thread's nice value (per thread on Linux); null where there is none.</summary>
    public static int? CurrentThreadNice() => ThreadNice.Current();
}
