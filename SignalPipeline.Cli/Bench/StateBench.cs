using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace SignalPipeline.Cli.Bench;

/// <summary>What a processor that came back after a kill -9 did.</summary>
/// <param name="RestoredStreams">Streams its "restored N streams" log line(s) name.</param>
/// <param name="LoggedRestoreMs">Restore time its log line(s) give (summed over assignments), null if none was logged.</param>
/// <param name="HealthySeconds">From the new process's start to its /health answering.</param>
/// <param name="AssignedSeconds">From the new process's start to its "Assigned partitions" log line (restore included).</param>
/// <param name="ProbesOutSeconds">From the new process's start to the last probe chunk seen at the output.</param>
/// <param name="ProbesOut">Probe chunks (the next seq of existing streams) that came out: a stream whose checkpoint was
/// lost waits for its seq 0 again and holds its probe.</param>
public sealed record StateRestore(long RestoredStreams, long? LoggedRestoreMs, double HealthySeconds, double AssignedSeconds, double ProbesOutSeconds, int ProbesOut, int Probes, long RssKiB);

/// <summary>One processor loaded with <paramref name="Streams"/> streams of one chunk each, then killed and restarted.</summary>
/// <param name="Partitions">The input's partitions, read from the broker's metadata (the streams' "i mod N").</param>
public sealed record StateRun(
    string Algorithm, int Streams, int BaselineStreams, long BaselineRssKiB, long RssKiB, long PeakRssKiB, double LoadSeconds,
    long Duplicates, long ChangelogRecordsDropped, IReadOnlyList<StateRestore> Restores, int Partitions)
{
    /// <summary>Resident memory added per stream between the warm-up streams and all of them.</summary>
    public double BytesPerStream => (RssKiB - BaselineRssKiB) * 1024.0 / (Streams - BaselineStreams);
}

/// <summary>
/// <c>signal-pipeline bench --scenario state</c>: memory per held stream per algorithm, and RSS and restore time of one
/// processor holding a million kalman streams (issue 15's targets: RSS under 512 MiB, restore under 5 s). Each run gets a
/// fresh dev broker with 32 partitions (or the <c>--brokers</c> cluster) and one processor process; after loading, the processor is killed with SIGKILL and a
/// new one restores the state from the changelog (several times, each a measurement).
/// </summary>
public sealed partial class StateBench(BenchEnvironment env, string? brokers, IReadOnlyDictionary<string, string>? processorOverrides = null)
{
    public const string Scenario = "state";
    public static readonly string[] Algorithms = ["kalman", "rls", "ls", "lms"];
    private const int Partitions = 32;

    private readonly Progress<string> _progress = new(line => Console.WriteLine(line));
    private int _processorCount;

    /// <summary>Runs the scenario, prints its section and writes it into <paramref name="outputPath"/> unless null; 0 when nothing was lost.</summary>
    public static async Task<int> RunAsync(
        BenchEnvironment env, string? brokers, int repeats, string? outputPath, IReadOnlyDictionary<string, string>? processorOverrides, CancellationToken cancellationToken)
    {
        var bench = new StateBench(env, brokers, processorOverrides);
        var clock = Stopwatch.StartNew();
        var runs = new List<StateRun>();

        // --quick (the CI smoke check) keeps one small run: it checks the scenario still works, it measures nothing.
        var (large, each) = env.Quick ? (20_000, 0) : (1_000_000, 100_000);
        Console.WriteLine($"[{clock.Elapsed:mm\\:ss}] state: {large:N0} kalman streams, {repeats} kill -9 + restore(s)");
        runs.Add(await bench.RunOnceAsync("kalman", large, restores: repeats, cancellationToken));
        if (each > 0)
        {
            foreach (var algorithm in Algorithms)
            {
                Console.WriteLine($"[{clock.Elapsed:mm\\:ss}] state: {each:N0} {algorithm} streams (memory per stream)");
                runs.Add(await bench.RunOnceAsync(algorithm, each, restores: 0, cancellationToken));
            }
        }

        Console.WriteLine($"[{clock.Elapsed:mm\\:ss}] state: done");
        var markdown = StateReport.ToMarkdown(env, brokers, runs, processorOverrides);
        Console.WriteLine();
        Console.WriteLine(markdown);
        if (outputPath is not null)
        {
            BenchReport.WriteSection(outputPath, markdown, StateReport.BeginMarker, StateReport.EndMarker);
            Console.WriteLine($"Wrote {outputPath}.");
        }

        return runs.All(r => r.Duplicates == 0) ? 0 : 1;
    }

    /// <summary>The environment of a state run's processor; <c>--processor-env</c> settings win (<see cref="BenchRunner.AddProcessorSettings"/>).</summary>
    internal static Dictionary<string, string> ProcessorEnvironment(
        string bootstrap, string algorithm, int streams, string? brokers, IReadOnlyDictionary<string, string>? processorOverrides)
    {
        var variables = new Dictionary<string, string>
        {
            ["KAFKA_BROKERS"] = bootstrap,
            ["FILTER_ALGORITHM"] = algorithm,
            ["FILTER_MODE"] = "local",
            ["Processor__RateLogSeconds"] = "30",
            // Processor v2's limits must not shape the measurement: room for every stream, no eviction during the run.
            ["Processor__MaxStreams"] = (2 * streams).ToString(CultureInfo.InvariantCulture),
            ["Processor__MaxStreamBytes"] = (1L << 40).ToString(CultureInfo.InvariantCulture),
            ["Processor__StreamIdleSeconds"] = "86400",
        };
        BenchRunner.AddProcessorSettings(variables, brokers, processorOverrides);
        return variables;
    }

    private async Task<StateRun> RunOnceAsync(string algorithm, int streams, int restores, CancellationToken cancellationToken)
    {
        // The broker and the processor of the moment, stopped together at the end (ServiceProcess.StopAllAsync).
        var services = new List<ServiceProcess>();
        try
        {
            string bootstrap;
            if (brokers is null)
            {
                var port = ServiceProcess.FreePort();
                await ServiceProcess.StartAsync(env, "SignalPipeline.DevBroker", "state-kafka", new Dictionary<string, string>
                {
                    ["DevBroker__BootstrapPort"] = port.ToString(CultureInfo.InvariantCulture),
                    ["DevBroker__Partitions"] = Partitions.ToString(CultureInfo.InvariantCulture),
                }, services, cancellationToken);
                bootstrap = $"127.0.0.1:{port}";
            }
            else
            {
                // A cluster that does not answer is one error line naming it before the processor starts, as in the other
                // scenarios (until 2026-12-06: "state-processor-1 was not healthy within 60 s" a minute later).
                bootstrap = await BenchRunner.BrokerAsync(env, brokers, services, cancellationToken);
            }

            var variables = ProcessorEnvironment(bootstrap, algorithm, streams, brokers, processorOverrides);
            var processor = await StartProcessorAsync(variables, services, cancellationToken);
            await WaitAssignedAsync(processor, cancellationToken);
            using var load = new StateLoad(bootstrap, streams);
            var baselineStreams = Math.Min(2_000, streams / 10);
            await load.ProduceAndDrainAsync(0, baselineStreams, seq: 0, _progress, cancellationToken);
            var (baselineRss, _) = Memory(processor.ProcessId);

            var clock = Stopwatch.StartNew();
            await load.ProduceAndDrainAsync(baselineStreams, streams, seq: 0, _progress, cancellationToken);
            var loadSeconds = clock.Elapsed.TotalSeconds;
            var (rss, peak) = Memory(processor.ProcessId);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  => {streams:N0} {algorithm} streams in {loadSeconds:0.0} s; RSS {rss / 1024.0:0} MiB (peak {peak / 1024.0:0} MiB), {baselineStreams:N0} streams: {baselineRss / 1024.0:0} MiB"));

            var results = new List<StateRestore>();
            var probes = Enumerable.Range(0, Math.Min(256, streams)).Select(k => (int)((long)k * streams / Math.Min(256, streams))).ToArray();
            for (var restore = 1; restore <= restores; restore++)
            {
                Kill9(processor);
                services.Remove(processor);
                await processor.DisposeAsync();
                var (next, result) = await RestoreAsync(variables, services, load, probes, seq: restore, cancellationToken);
                processor = next;
                results.Add(result);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  => restore {restore}: {result.RestoredStreams:N0} streams restored in {result.LoggedRestoreMs?.ToString(CultureInfo.InvariantCulture) ?? "?"} ms (log); " +
                    $"healthy after {result.HealthySeconds:0.0} s, assigned after {result.AssignedSeconds:0.0} s, {result.ProbesOut}/{result.Probes} probes out after {result.ProbesOutSeconds:0.0} s; RSS {result.RssKiB / 1024.0:0} MiB"));
            }

            var dropped = load.ChangelogRecordsDropped("filter-kafka-processor-state-changelog");
            if (load.Duplicates > 0 || load.DeliveryErrors > 0)
            {
                Console.WriteLine($"  => {load.Duplicates} chunk(s) came out more than once; {load.DeliveryErrors} produce error(s)");
            }

            return new StateRun(algorithm, streams, baselineStreams, baselineRss, rss, peak, loadSeconds, load.Duplicates, dropped, results, load.Partitions);
        }
        finally
        {
            await ServiceProcess.StopAllAsync(services, cancellationToken);
        }
    }

    private async Task<(ServiceProcess Processor, StateRestore Result)> RestoreAsync(
        Dictionary<string, string> variables, List<ServiceProcess> services, StateLoad load, int[] probes, int seq, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var processor = await StartProcessorAsync(variables, services, cancellationToken);
        var healthy = clock.Elapsed.TotalSeconds;
        await WaitAssignedAsync(processor, cancellationToken);
        var assigned = clock.Elapsed.TotalSeconds;
        load.ProduceProbes(probes, seq);

        // Every probe out, or none more for 10 s after the first (a stream whose checkpoint the broker dropped holds its
        // probe forever), or 120 s with none at all.
        var (outCount, lastOut) = (0, clock.Elapsed);
        while (outCount < probes.Length)
        {
            await Task.Delay(10, cancellationToken);
            var count = probes.Count(p => load.HasOutput(p, seq));
            if (count != outCount)
            {
                (outCount, lastOut) = (count, clock.Elapsed);
            }
            else if ((outCount > 0 && clock.Elapsed - lastOut > TimeSpan.FromSeconds(10)) || clock.Elapsed > TimeSpan.FromSeconds(120))
            {
                break;
            }
        }

        var (restored, ms) = ReadRestoreLog(processor.Name);
        var (rss, _) = Memory(processor.ProcessId);
        return (processor, new StateRestore(restored, ms, healthy, assigned, lastOut.TotalSeconds, outCount, probes.Length, rss));
    }

    /// <summary>A processor, one of <paramref name="services"/> (stopped with them) from its start.</summary>
    private Task<ServiceProcess> StartProcessorAsync(Dictionary<string, string> variables, List<ServiceProcess> services, CancellationToken cancellationToken)
        => ServiceProcess.StartAsync(env, "FilterKafkaProcessor", $"state-processor-{++_processorCount}", variables, services, cancellationToken);

    /// <summary>Until the processor's log says it holds partitions (after a kill -9 the group first waits out the dead member's session).</summary>
    internal static async Task WaitAssignedAsync(ServiceProcess processor, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!processor.HoldsPartitions && clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            await Task.Delay(10, cancellationToken);
        }
    }

    /// <summary>Sums the processor's "Assigned partitions [...]: restored N streams in X ms" lines from its log file.</summary>
    private (long Streams, long? Milliseconds) ReadRestoreLog(string name)
    {
        var path = Path.Combine(env.LogDirectory, name + ".log");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var matches = RestoreLine().Matches(reader.ReadToEnd());
        return matches.Count == 0
            ? (0, null)
            : (matches.Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)), matches.Sum(m => long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)));
    }

    [GeneratedRegex(@"restored (\d+) streams in (\d+) ms")]
    private static partial Regex RestoreLine();

    /// <summary>VmRSS and VmHWM (peak) of a process, in KiB.</summary>
    private static (long Rss, long Peak) Memory(int pid)
    {
        long Read(string field) => File.ReadLines($"/proc/{pid}/status")
            .Where(l => l.StartsWith(field + ":", StringComparison.Ordinal))
            .Select(l => long.Parse(l[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture))
            .FirstOrDefault();
        return (Read("VmRSS"), Read("VmHWM"));
    }

    private static void Kill9(ServiceProcess processor)
    {
        using var process = Process.GetProcessById(processor.ProcessId);
        process.Kill(); // SIGKILL on Unix: no shutdown, no last commit
        process.WaitForExit(TimeSpan.FromSeconds(30));
    }
}
