using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using SignalPipeline.Filters;

namespace SignalPipeline.Benchmarks;

/// <summary>
/// What checking one restored stream's filter state costs the processor's restore (docs/processor.md, "A stream checkpoint
/// whose filter state is invalid"): one <see cref="FilterFactory.Restore"/> of a snapshot taken after 256 samples, each
/// algorithm with its default parameters.
/// Run: dotnet run -c Release --project SignalPipeline.Benchmarks -- --filter '*FilterState*' --job short
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
[MedianColumn]
public class FilterStateBenchmarks
{
    private byte[] _state = [];

    [Params("kalman", "ls", "rls")]
    public string Algorithm { get; set; } = "kalman";

    [GlobalSetup]
    public void Setup()
    {
        var filter = FilterFactory.Create(Algorithm);
        var input = Enumerable.Range(0, 256).Select(n => Math.Sin(0.01 * n)).ToArray();
        filter.Process(input, new double[input.Length]);
        _state = filter.SaveState();
    }

    [Benchmark]
    public long Restore() => FilterFactory.Restore(_state).SamplesProcessed;

    private sealed class Config : ManualConfig
    {
        // The generated project's build can take minutes on a shared 2-core machine (BenchmarkDotNet's default is 2).
        public Config() => WithBuildTimeout(TimeSpan.FromMinutes(10));
    }
}
