using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Cli.Streams;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Bench;

/// <summary>One case of the mixed scenario: the streams split into equal consecutive blocks, block k on <c>Algorithms[k]</c>.</summary>
public sealed record MixedCase(string Label, IReadOnlyList<string> Algorithms)
{
    /// <summary>
    /// Stream <paramref name="stream"/>'s algorithm. Consecutive blocks (not stream mod k): streams go round-robin over
    /// the input partitions, so each block covers every partition and every partition, and so every batch, is mixed.
    /// </summary>
    public string AlgorithmOf(int stream, int streams) => Algorithms[(int)((long)stream * Algorithms.Count / streams)];

    public bool IsMix => Algorithms.Count > 1;

    /// <summary>The four algorithms alone, then 250 streams of each (at 1,000 streams), all with default parameters.</summary>
    public static IReadOnlyList<MixedCase> All { get; } =
    [
        .. StateBench.Algorithms.Select(a => new MixedCase($"all {a}", [a])),
        new("mix: ¼ each", StateBench.Algorithms),
    ];
}

/// <summary>One run of a case. <paramref name="SamplesPerSecond"/>: output samples per second over the measured window;
/// <paramref name="CpuNsPerSample"/>: the processor process's CPU time (user + system, all its threads) over the same
/// window per output sample, NaN where /proc is missing; <paramref name="Partitions"/>: the input's, read from the broker's metadata.</summary>
public sealed record MixedRun(
    MixedCase Case, int Repeat, double SamplesPerSecond, double CpuNsPerSample, int Rounds, long Produced, long Delivered, long Duplicates, long Gaps,
    int StreamsShort, long OtherAlgorithm, long DeliveryErrors, double LoadBefore, double LoadAfter, int Partitions)
{
    /// <summary>Every (stream, seq) produced came out exactly once, in order, from its stream's own algorithm.</summary>
    public bool Complete => Delivered == Produced && Duplicates == 0 && Gaps == 0 && StreamsShort == 0 && OtherAlgorithm == 0 && DeliveryErrors == 0;
}

/// <summary>
/// <c>signal-pipeline bench --scenario mixed</c> (issue 13): one local-mode processor, 1,000 streams of 256-sample binary
/// f64 chunks, each stream's algorithm set through the <c>stream-config</c> topic as <c>signal-pipeline streams
/// configure</c> writes it, before the processor starts. Cases: each algorithm alone and the four mixed; the repeats go
/// round the cases (run 1 of every case, then run 2, ...) so that the machine's changing load falls on all of them.
/// </summary>
public sealed class MixedBench(BenchEnvironment env, string? brokers, IReadOnlyDictionary<string, string>? processorOverrides = null)
{
    public const string Scenario = "mixed";
    public const int Streams = 1_000;
    public const int ChunkSamples = 256;

    private readonly Progress<string> _progress = new(line => Console.WriteLine(line));
    private int _processorCount;

    private TimeSpan Warmup => TimeSpan.FromSeconds(env.Quick ? 1 : 10);

    private TimeSpan Duration => TimeSpan.FromSeconds(env.Quick ? 2 : 12);

    /// <summary>Runs the scenario, prints its section and writes it into <paramref name="outputPath"/> unless null; 0 when every run's output was complete.</summary>
    public static async Task<int> RunAsync(
        BenchEnvironment env, string? brokers, int repeats, string? outputPath, IReadOnlyDictionary<string, string>? processorOverrides, CancellationToken cancellationToken)
    {
        var bench = new MixedBench(env, brokers, processorOverrides);
        var clock = Stopwatch.StartNew();
        var runs = new List<MixedRun>();
        for (var repeat = 1; repeat <= repeats; repeat++)
        {
            foreach (var @case in MixedCase.All)
            {
                Console.WriteLine($"[{clock.Elapsed:mm\\:ss}] mixed: {Streams:N0} streams, {@case.Label} (run {repeat}/{repeats}, load {LoadAverage():0.0})");
                var run = await bench.RunOnceAsync(@case, repeat, cancellationToken);
                runs.Add(run);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  => {run.SamplesPerSecond / 1e6:0.00} M samples/s, processor CPU {run.CpuNsPerSample:0} ns per sample; {run.Delivered} of {run.Produced} chunks out, {run.Duplicates} duplicates, {run.Gaps} gaps, " +
                    $"{run.StreamsShort} streams short, {run.OtherAlgorithm} from another algorithm"));
            }
        }

        Console.WriteLine($"[{clock.Elapsed:mm\\:ss}] mixed: done");
        var markdown = MixedReport.ToMarkdown(env, brokers, runs, bench.Warmup, bench.Duration, processorOverrides);
        Console.WriteLine();
        Console.WriteLine(markdown);
        if (outputPath is not null)
        {
            BenchReport.WriteSection(outputPath, markdown, MixedReport.BeginMarker, MixedReport.EndMarker);
            Console.WriteLine($"Wrote {outputPath}.");
        }

        return runs.All(r => r.Complete) ? 0 : 1;
    }

    /// <summary>The environment of a mixed run's processor; <c>--processor-env</c> settings win (<see cref="BenchRunner.AddProcessorSettings"/>).</summary>
    internal static Dictionary<string, string> ProcessorEnvironment(string bootstrap, string? brokers, IReadOnlyDictionary<string, string>? processorOverrides)
    {
        var variables = new Dictionary<string, string>
        {
            ["KAFKA_BROKERS"] = bootstrap,
            ["FILTER_ALGORITHM"] = "kalman",
            ["FILTER_MODE"] = "local",
            ["Processor__RateLogSeconds"] = "5",
        };
        BenchRunner.AddProcessorSettings(variables, brokers, processorOverrides);
        return variables;
    }

    private async Task<MixedRun> RunOnceAsync(MixedCase @case, int repeat, CancellationToken cancellationToken)
    {
        var loadBefore = LoadAverage();
        var services = new List<ServiceProcess>();
        try
        {
            var bootstrap = await BenchRunner.BrokerAsync(env, brokers, services, cancellationToken);
            var algorithms = Enumerable.Range(0, Streams).Select(s => @case.AlgorithmOf(s, Streams)).ToArray();
            using var load = new StateLoad(bootstrap, Streams, ChunkSamples, algorithms);

            // The entries go in before the processor starts: it reads the table to its end before its first batch, so
            // every stream runs its own algorithm from seq 0 (the watcher checks each output's algorithm).
            await ConfigureAsync(bootstrap, load, algorithms, cancellationToken);
            var processor = await ServiceProcess.StartAsync(
                env, "FilterKafkaProcessor", $"mixed-processor-{++_processorCount}", ProcessorEnvironment(bootstrap, brokers, processorOverrides), services, cancellationToken);
            await StateBench.WaitAssignedAsync(processor, cancellationToken);

            // Seq 0 of every stream, drained: the streams exist and the group is settled before the clock starts.
            await load.ProduceAndDrainAsync(0, Streams, seq: 0, _progress, cancellationToken);
            var window = MeasureAsync(load, processor.ProcessId, cancellationToken);
            var rounds = await load.ProduceRoundsAsync(1, () => !window.IsCompleted, cancellationToken);
            var (rate, cpu) = await window;
            await load.WaitDeliveredAsync(load.Produced, TimeSpan.FromSeconds(60), _progress, cancellationToken);
            return new MixedRun(@case, repeat, rate, cpu, rounds, load.Produced, load.Delivered, load.Duplicates, load.Gaps,
                load.StreamsShort(rounds), load.OtherAlgorithm, load.DeliveryErrors, loadBefore, LoadAverage(), load.Partitions);
        }
        finally
        {
            await ServiceProcess.StopAllAsync(services, cancellationToken);
        }
    }

    /// <summary>Writes each stream's entry the way <c>signal-pipeline streams configure</c> does (validated, then key = id, value = the entry's JSON).</summary>
    private static async Task ConfigureAsync(string bootstrap, StateLoad load, string[] algorithms, CancellationToken cancellationToken)
    {
        using var factory = KafkaConnection.CreateFactory(bootstrap, Console.Error, KafkaConnection.BenchClientId);
        using var producer = factory.CreateProducer<byte[], byte[]>();
        var topic = KafkaConnection.TopicFromEnvironment(PipelineTopics.StreamConfig);
        for (var stream = 0; stream < algorithms.Length; stream++)
        {
            var id = load.StreamId(stream);
            var entry = StreamsCommand.Value(id, algorithms[stream], [], reset: false)!;
            producer.Produce(topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(id), Value = entry.ToJson() });
        }

        await Task.Run(() => producer.Flush(TimeSpan.FromSeconds(30)), cancellationToken);
    }

    /// <summary>
    /// Output samples per second from the end of the warm-up for <see cref="Duration"/>, reported each second, and the
    /// processor's CPU time per output sample over the same window: on a shared machine the rate follows the CPU the
    /// processor gets, its CPU time per sample much less so.
    /// </summary>
    private async Task<(double Rate, double CpuNsPerSample)> MeasureAsync(StateLoad load, int processId, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var (from, fromChunks, fromCpu) = (TimeSpan.Zero, 0L, 0.0);
        var (last, lastChunks) = (TimeSpan.Zero, load.Delivered);
        while (clock.Elapsed < Warmup + Duration)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            var (now, chunks) = (clock.Elapsed, load.Delivered);
            if (from == TimeSpan.Zero && now >= Warmup)
            {
                (from, fromChunks, fromCpu) = (now, chunks, CpuSeconds(processId));
            }

            ((IProgress<string>)_progress).Report(string.Create(CultureInfo.InvariantCulture,
                $"  {now.TotalSeconds,5:0.0}/{(Warmup + Duration).TotalSeconds:0} s: {(chunks - lastChunks) * ChunkSamples / (now - last).TotalSeconds / 1e6,6:0.00} M samples/s in the last second{(from == TimeSpan.Zero ? " (warming up)" : "")}"));
            (last, lastChunks) = (now, chunks);
        }

        var (samples, cpu) = ((load.Delivered - fromChunks) * (double)ChunkSamples, CpuSeconds(processId) - fromCpu);
        return (samples / (clock.Elapsed - from).TotalSeconds, cpu * 1e9 / samples);
    }

    /// <summary>A process's user + system CPU seconds so far (/proc/PID/stat, clock ticks of 10 ms), NaN where there is no /proc.</summary>
    public static double CpuSeconds(int processId)
    {
        try
        {
            // Fields after the command name (which is in parentheses and may hold spaces): utime and stime are the 12th and 13th.
            var stat = File.ReadAllText($"/proc/{processId}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>The 1-minute load average (/proc/loadavg), NaN where there is none.</summary>
    internal static double LoadAverage()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }
}
