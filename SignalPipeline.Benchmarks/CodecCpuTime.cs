using System.Diagnostics;
using SignalPipeline.Messages;

namespace SignalPipeline.Benchmarks;

/// <summary>
/// Companion to <see cref="CodecBenchmarks"/> for a shared machine (as <see cref="FilterKernelCpuTime"/> is to the
/// filter kernels): each JSON op timed by this thread's CPU time, so the figures do not follow the machine's load.
/// Run: dotnet run -c Release --project SignalPipeline.Benchmarks -- codec-cpu-time ["op name part" ...]
/// </summary>
internal static class CodecCpuTime
{
    public static void Run(IReadOnlyList<string> only)
    {
        Console.WriteLine("| op | samples | ops | median CPU us/op | samples/s by CPU time (median) | median wall us/op |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var samples in new[] { 256, 4096 })
        {
            var benchmarks = new CodecBenchmarks { Samples = samples };
            benchmarks.Setup();
            Measure("JSON decode, SampleCodec", samples, () => benchmarks.JsonDecode_SampleCodec(), only);
            Measure("JSON decode, JsonSerializer", samples, () => benchmarks.JsonDecode_JsonSerializer(), only);
            Measure("JSON encode, SampleCodec", samples, () => benchmarks.JsonEncode_SampleCodec(), only);
            Measure("JSON encode, JsonSerializer", samples, () => benchmarks.JsonEncode_JsonSerializer(), only);
            benchmarks.Cleanup();
        }
    }

    private static void Measure(string name, int samples, Func<int> op, IReadOnlyList<string> only)
    {
        if (only.Count > 0 && !only.Any(o => name.Contains(o, StringComparison.OrdinalIgnoreCase)))
        {
            return;
        }

        // Warm-up by time, not by count: on a loaded machine tiered JIT's background compiles arrive late, and a few
        // hundred fast ops would be measured in tier-0 code.
        var warmup = Stopwatch.StartNew();
        for (var i = 0; i < 200 || warmup.Elapsed < TimeSpan.FromSeconds(2); i++)
        {
            op();
        }

        var wall = new List<double>();
        var cpu = new List<double>();
        var budget = Stopwatch.StartNew();
        while (wall.Count < 50 || (budget.Elapsed < TimeSpan.FromSeconds(3) && wall.Count < 5000))
        {
            var cpuStart = FilterKernelCpuTime.ThreadCpuSeconds();
            var start = Stopwatch.GetTimestamp();
            op();
            wall.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            cpu.Add(FilterKernelCpuTime.ThreadCpuSeconds() - cpuStart);
        }

        wall.Sort();
        cpu.Sort();
        double wallMedian = wall[wall.Count / 2], cpuMedian = cpu[cpu.Count / 2];
        Console.WriteLine($"| {name} | {samples} | {wall.Count} | {cpuMedian * 1e6:F1} | {samples / cpuMedian / 1e6:F1}M | {wallMedian * 1e6:F1} |");
    }
}
