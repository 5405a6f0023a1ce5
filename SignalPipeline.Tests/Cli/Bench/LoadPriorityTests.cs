using System.Diagnostics;
using SignalPipeline.Cli.Bench;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// The bench's load runs at a lower priority than what it measures (<see cref="LoadPriority"/>): its threads are lowered,
/// the threads they create inherit that, and the processes the bench starts are not lowered even when a lowered thread
/// asks for them. Integration: it starts <c>nice</c> as a child process (docs/testing.md: unit tests start no other program).
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class LoadPriorityTests
{
    private const int Lowered = 5;

    [Fact]
    public void A_lowered_thread_and_the_threads_it_makes_run_lower_and_the_caller_does_not()
    {
        var caller = LoadPriority.CurrentThreadNice()!.Value;
        Assert.True(caller <= LoadPriority.MaxNice - Lowered, $"this test needs room below nice {LoadPriority.MaxNice}; it runs at {caller}");

        var (lowered, child) = OnThread(() =>
        {
            var now = LoadPriority.LowerCurrentThread(Lowered);
            var inherited = OnThread(LoadPriority.CurrentThreadNice);
            return (now, inherited);
        });

        Assert.Equal(caller + Lowered, lowered);
        Assert.Equal(caller + Lowered, child);
        Assert.Equal(caller, LoadPriority.CurrentThreadNice());
    }

    [Fact]
    public async Task A_process_started_for_a_lowered_thread_runs_at_the_bench_s_priority_and_one_it_starts_itself_would_not()
    {
        var caller = LoadPriority.CurrentThreadNice()!.Value;
        Assert.True(caller <= LoadPriority.MaxNice - Lowered, $"this test needs room below nice {LoadPriority.MaxNice}; it runs at {caller}");
        LoadPriority.Prepare();

        var (started, direct) = OnThread(() =>
        {
            LoadPriority.LowerCurrentThread(Lowered);
            return (LoadPriority.StartProcess(NiceCommand())!, Process.Start(NiceCommand())!);
        });

        // `nice` with no arguments prints its own nice value: the one it started with.
        Assert.Equal(caller.ToString(System.Globalization.CultureInfo.InvariantCulture), await OutputAsync(started));
        Assert.Equal((caller + Lowered).ToString(System.Globalization.CultureInfo.InvariantCulture), await OutputAsync(direct));
    }

    private static ProcessStartInfo NiceCommand() => new("nice") { RedirectStandardOutput = true, UseShellExecute = false };

    private static async Task<string> OutputAsync(Process process)
    {
        using (process)
        {
            var output = await process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return output.Trim();
        }
    }

    /// <summary>Runs <paramref name="body"/> on a new thread (so a lowered priority ends with it) and returns its result.</summary>
    private static T OnThread<T>(Func<T> body)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = body();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(30)), "the thread did not end within 30 s");
        if (failure is not null)
        {
            throw new InvalidOperationException("The thread failed.", failure);
        }

        return result;
    }
}
