using System.Diagnostics;
using System.Runtime.InteropServices;
using SignalPipeline.Filters;

namespace SignalPipeline.Benchmarks;

/// <summary>
/// Companion to <see cref="FilterKernelBenchmarks"/> for a shared machine: times each op (one call filtering
/// <see cref="FilterKernelBenchmarks.Samples"/> samples) by wall clock and by this thread's CPU time
/// (clock_gettime(CLOCK_THREAD_CPUTIME_ID)), so time the scheduler gave to other processes shows as the difference.
/// Run: dotnet run -c Release --project SignalPipeline.Benchmarks -- filter-cpu-time
/// </summary>
internal static partial class FilterKernelCpuTime
{
    private const int ThreadCpuTimeClock = 3; // CLOCK_THREAD_CPUTIME_ID on Linux

    public static void Run()
    {
        var input = new double[FilterKernelBenchmarks.Samples];
        var output = new double[input.Length];
        var random = new Random(1);
        for (var n = 0; n < input.Length; n++)
        {
            input[n] = Math.Sin(0.01 * n) + 0.5 * Math.Sin(0.173 * n) + 0.3 * (random.NextDouble() - 0.5);
        }

        // Which kernel width this run measures (DOTNET_PreferredVectorBitWidth=128 / DOTNET_EnableAVX2=0 select the others).
        Console.WriteLine($"kernel width: {VectorKernels.Best}");
        Console.WriteLine("| kernel | ops | median wall us/op | median CPU us/op | samples/s by wall (median) | samples/s by CPU time (median) | CPU time / wall time (all ops) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (name, algorithm, parameters) in new (string, string, Dictionary<string, double>)[]
        {
            ("kalman", "kalman", []),
            ("lms(16)", "lms", new() { ["order"] = 16 }),
            ("lms(32)", "lms", new() { ["order"] = 32 }),
            ("rls(8)", "rls", new() { ["order"] = 8 }),
            ("rls(24)", "rls", new() { ["order"] = 24 }),
            ("ls(31,2)", "ls", new() { ["window"] = 31, ["degree"] = 2 }),
        })
        {
            var filter = FilterFactory.Create(algorithm, parameters);
            for (var i = 0; i < 100; i++)
            {
                filter.Process(input, output); // warm-up: tiered JIT reaches its optimised code
            }

            var wall = new List<double>();
            var cpu = new List<double>();
            var budget = Stopwatch.StartNew();
            while (wall.Count < 50 || (budget.Elapsed < TimeSpan.FromSeconds(3) && wall.Count < 2000))
            {
                var cpuStart = ThreadCpuSeconds();
                var start = Stopwatch.GetTimestamp();
                filter.Process(input, output);
                wall.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
                cpu.Add(ThreadCpuSeconds() - cpuStart);
            }

            var share = cpu.Sum() / wall.Sum();
            wall.Sort();
            cpu.Sort();
            double wallMedian = wall[wall.Count / 2], cpuMedian = cpu[cpu.Count / 2];
            Console.WriteLine($"| {name} | {wall.Count} | {wallMedian * 1e6:F1} | {cpuMedian * 1e6:F1} | "
                + $"{input.Length / wallMedian / 1e6:F1}M | {input.Length / cpuMedian / 1e6:F1}M | {share:P0} |");
        }
    }

    internal static double ThreadCpuSeconds()
    {
        if (ClockGetTime(ThreadCpuTimeClock, out var time) != 0)
        {
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed.");
        }

        return time.Seconds + time.Nanoseconds * 1e-9;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);
}
