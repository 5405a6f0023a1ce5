using System.Collections.Concurrent;
using SignalPipeline.Shared;

namespace FilterService;

/// <summary>
/// A few dedicated threads at a lower OS priority (a higher Linux nice value) that run the large requests' lane: its
/// parsing, filtering and answering (every continuation of the endpoint's awaits comes back here, since the endpoint
/// captures this scheduler). When a large request and small ones want the same CPU, the kernel gives the small ones
/// precedence, instead of sharing the CPU evenly and making every small request wait as long as the large one's slice.
/// Measured with the bench's abuse scenario (docs/benchmarks.md). Where the nice value cannot be set (not Linux) the
/// threads run at normal priority: correct, only without the precedence.
/// </summary>
public sealed class BackgroundPriorityScheduler : TaskScheduler, IDisposable
{
    [ThreadStatic]
    private static BackgroundPriorityScheduler? _current;

    private readonly BlockingCollection<Task> _tasks = [];
    private readonly Thread[] _threads;

    public BackgroundPriorityScheduler(int threads, int nice)
    {
        Nice = nice;
        _threads = new Thread[threads];
        for (var i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(Run) { IsBackground = true, Name = $"large-request-{i}" };
            _threads[i].Start();
        }
    }

    /// <summary>The nice value the threads asked for (0..19).</summary>
    public int Nice { get; }

    public override int MaximumConcurrencyLevel => _threads.Length;

    /// <summary>The calling thread's nice value, or null where it cannot be read (not Linux).</summary>
    public static int? CurrentThreadNice() => ThreadNice.Current();

    protected override void QueueTask(Task task) => _tasks.Add(task);

    // Inline only on this scheduler's own threads: a large request's work never runs on a normal-priority thread.
    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued)
        => _current == this && !taskWasPreviouslyQueued && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => _tasks.ToArray();

    private void Run()
    {
        _current = this;
        // Where the nice value cannot be set (not Linux) the thread runs at normal priority (see above).
        _ = ThreadNice.Set(Nice);

        try
        {
            foreach (var task in _tasks.GetConsumingEnumerable())
            {
                TryExecuteTask(task);
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose() => _tasks.CompleteAdding();
}
