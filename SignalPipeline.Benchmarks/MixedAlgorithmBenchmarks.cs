using BenchmarkDotNet.Attributes;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Filtering;
using SignalPipeline.Filters;

namespace SignalPipeline.Benchmarks;

/// <summary>
/// Issue 13's target: 1,000 streams on mixed algorithms cost no more than their members' shares of the all-one-algorithm
/// runs (250 streams each of kalman, rls(8), lms(16), ls(31,2): the mix should take at most the mean of the four).
/// One op is one batch as the processor's local mode runs it: each of the 1,000 streams gets a 256-sample chunk, its
/// filter restored from the committed state bytes through its own config (<see cref="StreamFilterHandle"/>,
/// <see cref="LocalChunkFilterer"/>), filtered, saved and committed. Reported per sample.
/// Run: dotnet run -c Release --project SignalPipeline.Benchmarks -- --filter '*MixedAlgorithm*' --job short
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class MixedAlgorithmBenchmarks
{
    public const int Streams = 1000;
    public const int ChunkSamples = 256;

    private static readonly string[] Algorithms = ["kalman", "rls", "lms", "ls"];
    private readonly double[] _input = new double[ChunkSamples];
    private readonly double[][] _outputs = [.. Enumerable.Range(0, Streams).Select(_ => new double[ChunkSamples])];
    private StreamFilterHandle[] _streams = [];
    private FilterWork[] _work = [];
    private LocalChunkFilterer _filterer = null!;

    /// <summary>One algorithm for every stream, or "mixed": stream i runs <c>Algorithms[i % 4]</c>.</summary>
    [Params("kalman", "rls", "lms", "ls", "mixed")]
    public string Mix { get; set; } = "mixed";

    [GlobalSetup]
    public void Setup()
    {
        for (var n = 0; n < ChunkSamples; n++)
        {
            _input[n] = Math.Sin(0.01 * n) + 0.5 * Math.Sin(0.173 * n);
        }

        _filterer = new LocalChunkFilterer("kalman", new Dictionary<string, double>());
        _streams = [.. Enumerable.Range(0, Streams).Select(i =>
        {
            var config = StreamFilterConfig.Create(Mix == "mixed" ? Algorithms[i % Algorithms.Length] : Mix, null);
            return new StreamFilterHandle(null, new StreamFilterSetting(config, -1, 0));
        })];
        _work = [.. _streams.Select((s, i) => new FilterWork(s, _input, _outputs[i]))];

        // Past the start: every stream has committed state, as in a running processor.
        for (var i = 0; i < 3; i++)
        {
            Batch();
        }
    }

    [Benchmark(OperationsPerInvoke = Streams * ChunkSamples)]
    public void Batch()
    {
        _filterer.FilterAsync(_work, CancellationToken.None).GetAwaiter().GetResult();
        foreach (var stream in _streams)
        {
            stream.OnFilterCommitted(stream.SaveState(), stream.Setting);
        }
    }
}
