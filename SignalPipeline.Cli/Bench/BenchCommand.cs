using System.CommandLine;
using System.Diagnostics;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// <c>signal-pipeline bench</c>: the guide's performance table measured on this machine, end to end through Kafka,
/// with the project's own services started from their Release build.
/// </summary>
public static class BenchCommand
{
    /// <summary>The scenarios whose figures share the file's pipeline section (one report, rewritten whole).</summary>
    public static readonly string[] PipelineScenarios = ["local", "records", "remote", "scaled", "http", "bridge"];

    /// <summary>Every scenario: the pipeline's, then those that write sections of their own.</summary>
    public static readonly string[] AllScenarios = [.. PipelineScenarios, StateBench.Scenario, "abuse", MixedBench.Scenario];

    /// <summary>
    /// Why a run leaves docs/benchmarks.md's pipeline section alone, or null when it may rewrite it: the section is
    /// rewritten whole, so a run of some of its scenarios (or of some cases) would replace the others' figures with
    /// "not run". Such a run prints its tables; <c>--output FILE</c> writes them to a file of the user's choice.
    /// </summary>
    public static string? KeepsPipelineSection(IReadOnlyCollection<string> selected, string? caseFilter, bool outputGiven, bool quick = false)
    {
        if (KeepsFile(quick, outputGiven) is { } kept)
        {
            return kept;
        }

        if (outputGiven)
        {
            return null;
        }

        var missing = PipelineScenarios.Except(selected).ToArray();
        if (missing.Length > 0)
        {
            return $"its pipeline section is rewritten whole and this run left out {string.Join(", ", missing)}, whose figures it would replace with 'not run'. Run every scenario, or give --output FILE to write this run's tables elsewhere.";
        }

        return caseFilter is null
            ? null
            : $"its pipeline section is rewritten whole and --case '{caseFilter}' ran only some cases. Give --output FILE to write this run's tables elsewhere.";
    }

    /// <summary>
    /// Why a run leaves every section of docs/benchmarks.md alone, or null when it may write them: a --quick run is a smoke
    /// check (short windows, cases left out), and its figures must not replace measured ones. <c>--output FILE</c> still
    /// writes them, to a file of the user's choice.
    /// </summary>
    public static string? KeepsFile(bool quick, bool outputGiven)
        => quick && !outputGiven
            ? "--quick is a smoke check, not a measurement, and its figures would replace the measured ones. Give --output FILE to write this run's tables elsewhere."
            : null;

    /// <summary>
    /// The cluster of <c>--brokers</c> (or <c>KAFKA_BROKERS</c>), or null for a fresh dev broker: empty counts as unset, as
    /// for every other Kafka setting of the project (<c>KAFKA_BROKERS=</c> clears it). Until 2026-12-06 an empty value was
    /// a cluster named "", and the run ended "error: Kafka did not answer", exit 1.
    /// </summary>
    internal static string? Cluster(string? brokers) => string.IsNullOrWhiteSpace(brokers) ? null : brokers.Trim();

    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "Short runs, one repeat, fewer cases (3 to 6 minutes once built, with the machine's load): a smoke check, not a measurement, so it writes a file only with --output." };
        var scenarios = new Option<string[]>("--scenario")
        {
            Description = "Scenarios to run: local, records, remote, scaled, http, bridge, state, abuse, mixed (repeatable; default all).",
            DefaultValueFactory = _ => AllScenarios,
            AllowMultipleArgumentsPerToken = true,
        };
        var brokers = new Option<string?>("--brokers")
        {
            Description = "Kafka bootstrap servers to use instead of starting the embedded dev broker (default: KAFKA_BROKERS if set).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("KAFKA_BROKERS"),
        };
        var repeats = new Option<int?>("--repeats") { Description = "Runs per measurement; the report gives medians (default 3, 1 with --quick)." };
        var configuration = new Option<string>("--configuration") { Description = "Build configuration to start the services from.", DefaultValueFactory = _ => "Release" };
        var output = new Option<string?>("--output") { Description = "Markdown file whose bench sections are rewritten (default docs/benchmarks.md, which a --quick run leaves alone and whose pipeline section only a run of every pipeline scenario and case rewrites)." };
        var noWrite = new Option<bool>("--no-write") { Description = "Print the tables only." };
        var only = new Option<string?>("--case") { Description = "Run only the pipeline cases whose label contains this text (e.g. 'kalman, binary')." };
        var loadNice = new Option<int?>("--load-nice")
        {
            Description = $"What the bench's producer and output consumer add to their nice value, 0 to {LoadPriority.MaxNice} (default {LoadPriority.DefaultNice}): the processes measured run first on the cores they share; 0 runs the load at the bench's priority (before 2026-12-07).",
        };
        var processorSettings = new Option<string[]>("--processor-env")
        {
            Description = "KEY=VALUE set in the processors' environment (repeatable), to compare settings, e.g. Processor__MaxBatchBytes=2097152 or Kafka__Producer__linger.ms=5.",
            AllowMultipleArgumentsPerToken = true,
        };

        var command = new Command("bench", "Measure the pipeline end to end (throughput with nothing lost, latency percentiles) and the gateway under HTTP load.")
        {
            quick, scenarios, brokers, repeats, configuration, output, noWrite, only, loadNice, processorSettings,
        };
        command.Subcommands.Add(PassthroughCopy.Create());
        // VerbAction, as the operations verbs: a cluster that does not answer is one error line naming it, exit 1, and
        // Ctrl+C or SIGTERM is "interrupted", exit 130 (docs/operations.md); until 2026-12-05 the one was .NET's stack
        // trace and the other exit 1 or 130, whichever came first: the services' stop or System.CommandLine's 2 s.
        VerbAction.Set(command, async (parse, _, cancellationToken) =>
        {
            // Every option is checked before anything starts: a run takes minutes, and the state and mixed scenarios run first.
            var selected = parse.GetValue(scenarios)!.SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
            var unknown = selected.Except(AllScenarios).ToArray();
            if (unknown.Length > 0)
            {
                Console.Error.WriteLine($"error: unknown scenario(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", AllScenarios)}.");
                return 2;
            }

            if (selected.Length == 0)
            {
                Console.Error.WriteLine($"error: --scenario named no scenario. Known: {string.Join(", ", AllScenarios)}.");
                return 2;
            }

            if (parse.GetValue(only) is { } caseFilter && CaseProblem(selected, parse.GetValue(quick), caseFilter, PeerProcess.PythonReady) is { } problem)
            {
                Console.Error.WriteLine(problem);
                return 2;
            }

            if (parse.GetValue(repeats) is < 1 and var badRepeats)
            {
                Console.Error.WriteLine($"error: --repeats must be 1 or more, was {badRepeats}.");
                return 2;
            }

            if (parse.GetValue(loadNice) is { } nice && nice is < 0 or > LoadPriority.MaxNice)
            {
                Console.Error.WriteLine($"error: --load-nice must be 0 to {LoadPriority.MaxNice}, was {nice}.");
                return 2;
            }

            var overrides = new Dictionary<string, string>();
            foreach (var setting in parse.GetValue(processorSettings) ?? [])
            {
                var parts = setting.Split('=', 2);
                if (parts.Length != 2 || parts[0].Length == 0)
                {
                    Console.Error.WriteLine($"error: --processor-env '{setting}' is not KEY=VALUE.");
                    return 2;
                }

                overrides[parts[0]] = parts[1];
            }

            BenchEnvironment env;
            try
            {
                env = BenchEnvironment.Find(parse.GetValue(configuration)!, parse.GetValue(quick));
            }
            catch (InvalidOperationException ex)
            {
                Console.Error.WriteLine($"error: {ex.Message}");
                return 2;
            }

            if (env.MissingBuild() is { } missingBuild)
            {
                throw new UsageException(missingBuild); // VerbAction: one error line, exit 2
            }

            // The thread that starts every service and worker is made now, at the bench's own priority (LoadPriority).
            LoadPriority.Prepare();
            var cluster = Cluster(parse.GetValue(brokers));

            // The state and mixed scenarios write their own sections of the file.
            var path = parse.GetValue(output) ?? Path.Combine(env.Root, "docs", "benchmarks.md");
            var fileKept = parse.GetValue(noWrite) ? null : KeepsFile(env.Quick, parse.GetValue(output) is not null);
            var runs = parse.GetValue(repeats) ?? (env.Quick ? 1 : 3);
            var section = parse.GetValue(noWrite) || fileKept is not null ? null : path;
            var state = selected.Contains(StateBench.Scenario) ? await StateBench.RunAsync(env, cluster, runs, section, overrides, cancellationToken) : 0;
            var mixed = selected.Contains(MixedBench.Scenario) ? await MixedBench.RunAsync(env, cluster, runs, section, overrides, cancellationToken) : 0;
            if (fileKept is not null && selected.Any(s => s is StateBench.Scenario or MixedBench.Scenario))
            {
                Console.WriteLine($"Not written to {path}: {fileKept}");
            }

            if (selected.All(s => s is StateBench.Scenario or MixedBench.Scenario))
            {
                return state | mixed;
            }

            var runner = new BenchRunner(env, selected, cluster, runs, parse.GetValue(only), overrides)
            {
                LoadNice = parse.GetValue(loadNice) ?? LoadPriority.DefaultNice,
            };
            var report = await runner.RunAsync(cancellationToken);
            if (selected.Intersect(PipelineScenarios).Any())
            {
                var markdown = report.ToMarkdown();
                Console.WriteLine();
                Console.WriteLine(markdown);
                if (!parse.GetValue(noWrite))
                {
                    if (KeepsPipelineSection(selected, parse.GetValue(only), parse.GetValue(output) is not null, env.Quick) is { } kept)
                    {
                        Console.WriteLine($"Not written to {path}: {kept}");
                    }
                    else
                    {
                        BenchReport.WriteSection(path, markdown);
                        Console.WriteLine($"Wrote {path}.");
                    }
                }
            }

            if (report.Abuse.Count > 0)
            {
                // The abuse figures have their own section: running only this scenario leaves the pipeline's figures alone.
                var markdown = AbuseReport.ToMarkdown(report.Abuse, env, BenchRunner.AbusePhase(env));
                Console.WriteLine();
                Console.WriteLine(markdown);
                if (fileKept is not null)
                {
                    Console.WriteLine($"Not written to {path}: {fileKept}");
                }
                else if (section is not null)
                {
                    BenchReport.WriteSection(path, markdown, AbuseReport.BeginMarker, AbuseReport.EndMarker);
                    Console.WriteLine($"Wrote {path}.");
                }

                if (report.Abuse.Any(a => !a.AllAlive))
                {
                    return 1;
                }
            }

            return report.AllDelivered && state == 0 && mixed == 0 ? 0 : 1;
        }, ExitCodes.Interrupted);
        return command;
    }

    /// <summary>
    /// The <c>error:</c> line for a <c>--case</c> that would run nothing, or null. A case filter that matched nothing ran
    /// nothing and said "done", exit 0, until 2026-12-06 (a typo looked like a run); one that matched only the Python
    /// peer's case did the same where the peer cannot run (the case is dropped then) until 2026-12-07.
    /// <paramref name="pythonReady"/> is asked only then (it starts Python).
    /// </summary>
    public static string? CaseProblem(string[] selected, bool quick, string caseFilter, Func<bool> pythonReady)
    {
        var matched = BenchRunner.Cases(selected, quick, pythonReady: true, caseFilter);
        if (matched.Count == 0)
        {
            var labels = BenchRunner.Cases(selected, quick, pythonReady: true, only: null).Select(c => c.Label).ToArray();
            return labels.Length == 0
                ? $"error: --case '{caseFilter}' selects pipeline cases, and the scenario(s) {string.Join(", ", selected)} have none (pipeline cases are in {string.Join(", ", PipelineScenarios.Where(name => name != "http"))})."
                : $"error: --case '{caseFilter}' matches no case of {string.Join(", ", selected)}{(quick ? " with --quick" : "")}. Cases: {string.Join("; ", labels)}.";
        }

        return matched.All(c => c.Worker == PipelineWorker.PythonPeer) && !pythonReady()
            ? $"error: --case '{caseFilter}' matches only the Python peer's case, which cannot run here: {PeerProcess.PythonMissing}."
            : null;
    }
}

/// <summary>One pipeline measurement: which processor setup, which input; with <paramref name="BridgeClients"/> set, a
/// WebSocket bridge consumes the output and that many clients watch every stream. <paramref name="Worker"/> says what
/// moves <c>sample-input</c> to <c>sample-output</c>: the processor, a pass-through copy or the Python peer.</summary>
public sealed record PipelineCase(
    string Scenario, string Label, string Algorithm, SampleFormat Format, int Processors, bool Remote, int? BridgeClients = null,
    int ChunkSamples = 4096, PipelineWorker Worker = PipelineWorker.Processor);

/// <summary>What drains <c>sample-input</c> in a pipeline case.</summary>
public enum PipelineWorker
{
    /// <summary>FilterKafkaProcessor (<see cref="PipelineCase.Processors"/> instances).</summary>
    Processor,

    /// <summary>The ceiling: <see cref="PassthroughCopy"/>, the processor's client settings, no parsing, no transactions.</summary>
    Passthrough,

    /// <summary>A Python confluent-kafka worker doing the same kalman job at-least-once (<see cref="PeerProcess"/>).</summary>
    PythonPeer,
}

/// <summary>Starts what each scenario needs, measures, and stops it again; every scenario gets a fresh broker.</summary>
public sealed class BenchRunner(
    BenchEnvironment env, IReadOnlyCollection<string> scenarios, string? brokers, int repeats, string? only = null, IReadOnlyDictionary<string, string>? processorOverrides = null)
{
    /// <summary>The streams of every pipeline case (named in the report's method).</summary>
    public const int PipelineStreams = 16;

    private const double LatencyRate = 1_000_000;
    private const int BridgeClients = 200;

    // Written by the reporting thread itself: Progress<T> would queue each line to the thread pool, and a queue from the
    // load's lowered thread can make a pool thread that inherits its priority (LoadPriority).
    private readonly IProgress<string> _progress = new ConsoleLines();

    /// <summary>What the load adds to its threads' nice value (<c>--load-nice</c>, <see cref="LoadPriority"/>).</summary>
    public int LoadNice { get; init; } = LoadPriority.DefaultNice;

    public async Task<BenchReport> RunAsync(CancellationToken cancellationToken)
    {
        var report = new BenchReport(env, brokers, repeats) { ProcessorOverrides = processorOverrides, LoadNice = LoadNice };
        var pythonReady = !scenarios.Contains("records") || PeerProcess.PythonReady();
        if (!pythonReady)
        {
            Console.WriteLine($"records: the Python peer case is skipped: {PeerProcess.PythonMissing}");
        }

        var cases = Cases(scenarios, env.Quick, pythonReady, only);
        var total = Stopwatch.StartNew();
        foreach (var @case in cases)
        {
            for (var repeat = 1; repeat <= repeats; repeat++)
            {
                Console.WriteLine($"[{total.Elapsed:mm\\:ss}] {@case.Scenario}: {@case.Label} (run {repeat}/{repeats})");
                var (result, bridge) = await RunPipelineAsync(@case, cancellationToken);
                report.Pipeline.Add((@case, result));
                if (bridge is not null)
                {
                    report.Bridge.Add((@case, result, bridge));
                }
            }
        }

        if (scenarios.Contains("http"))
        {
            for (var repeat = 1; repeat <= repeats; repeat++)
            {
                Console.WriteLine($"[{total.Elapsed:mm\\:ss}] http: 4096-sample requests, gateway and direct (run {repeat}/{repeats})");
                report.Http.AddRange(await RunHttpAsync(cancellationToken));
            }
        }

        if (scenarios.Contains("abuse"))
        {
            for (var repeat = 1; repeat <= repeats; repeat++)
            {
                Console.WriteLine($"[{total.Elapsed:mm\\:ss}] abuse: normal clients alone, then under abuse (run {repeat}/{repeats})");
                report.Abuse.Add(await AbuseRun.RunAsync(env, brokers, AbusePhase(env), cancellationToken));
            }
        }

        Console.WriteLine($"[{total.Elapsed:mm\\:ss}] done");
        return report;
    }

    /// <summary>
    /// The pipeline cases a run measures, in order (docs/benchmarks.md describes each): pure, so the documented lists
    /// (what --quick leaves out, the records cases, what --case selects, the Python peer skipped) have tests.
    /// </summary>
    internal static List<PipelineCase> Cases(IReadOnlyCollection<string> scenarios, bool quick, bool pythonReady, string? only)
    {
        var cases = new List<PipelineCase>();
        if (scenarios.Contains("local"))
        {
            cases.Add(new("local", "kalman, binary f64", "kalman", SampleFormat.Float64, 1, false));
            if (!quick)
            {
                // JSON takes the longest to drain; --quick (a smoke check) leaves it out.
                cases.Add(new("local", "kalman, JSON", "kalman", SampleFormat.Json, 1, false));
            }

            cases.Add(new("local", "lms(16), binary f64", "lms", SampleFormat.Float64, 1, false));
        }

        if (scenarios.Contains("records"))
        {
            cases.AddRange(RecordCases(quick, pythonReady));
        }

        if (scenarios.Contains("remote"))
        {
            cases.Add(new("remote", "kalman via gateway, binary f64", "kalman", SampleFormat.Float64, 1, true));
        }

        if (scenarios.Contains("scaled"))
        {
            cases.Add(new("scaled", "2 processors, kalman, binary f64", "kalman", SampleFormat.Float64, 2, false));
        }

        if (scenarios.Contains("bridge"))
        {
            // The same pipeline with the bridge reading its output, without and with clients: the difference is what
            // the clients cost the pipeline.
            cases.Add(new("bridge", "bridge, no clients; kalman, binary f64", "kalman", SampleFormat.Float64, 1, false, 0));
            cases.Add(new("bridge", $"bridge, {BridgeClients} clients; kalman, binary f64", "kalman", SampleFormat.Float64, 1, false, BridgeClients));
        }

        if (only is not null)
        {
            cases.RemoveAll(c => !c.Label.Contains(only, StringComparison.OrdinalIgnoreCase));
        }

        return cases;
    }

    /// <summary>
    /// Issue 14's cost per record: the processor against the pass-through ceiling at the chunk sizes users send, and the
    /// JSON job against a Python peer (skipped where <paramref name="pythonReady"/> is false). --quick keeps one case of
    /// each kind at 256 samples.
    /// </summary>
    private static List<PipelineCase> RecordCases(bool quick, bool pythonReady)
    {
        var cases = new List<PipelineCase>();
        foreach (var samples in quick ? [256] : new[] { 64, 256, 4096 })
        {
            cases.Add(new("records", $"pass-through, binary f64, {samples} samples", "passthrough", SampleFormat.Float64, 0, false, ChunkSamples: samples, Worker: PipelineWorker.Passthrough));
            cases.Add(new("records", $"kalman, binary f64, {samples} samples", "kalman", SampleFormat.Float64, 1, false, ChunkSamples: samples));
        }

        if (!quick)
        {
            cases.Add(new("records", "pass-through, JSON, 256 samples", "passthrough", SampleFormat.Json, 0, false, ChunkSamples: 256, Worker: PipelineWorker.Passthrough));
            cases.Add(new("records", "kalman, JSON, 256 samples", "kalman", SampleFormat.Json, 1, false, ChunkSamples: 256));
        }

        if (pythonReady)
        {
            cases.Add(new("records", "Python peer: kalman, JSON, 256 samples", "kalman", SampleFormat.Json, 0, false, ChunkSamples: 256, Worker: PipelineWorker.PythonPeer));
        }

        return cases;
    }

    private async Task<(PipelineLoadResult Result, BridgeLoadResult? Bridge)> RunPipelineAsync(PipelineCase @case, CancellationToken cancellationToken)
    {
        var services = new List<ServiceProcess>();
        BridgeLoad? clients = null;
        PeerProcess? peer = null;
        try
        {
            var bootstrap = await BenchRunner.BrokerAsync(env, brokers, services, cancellationToken);

            var processorEnv = ProcessorEnvironment(@case, bootstrap, brokers, processorOverrides);

            if (@case.Remote)
            {
                var service = await ServiceProcess.StartAsync(env, "FilterService", "filter-service", new Dictionary<string, string>(), services, cancellationToken);
                var gateway = await ServiceProcess.StartAsync(env, "FilterGateway", "filter-gateway", GatewayEnv(service.Url), services, cancellationToken);
                processorEnv["FILTER_GATEWAY_URL"] = gateway.Url.ToString().TrimEnd('/');
            }

            peer = @case.Worker switch
            {
                PipelineWorker.Passthrough => PeerProcess.StartPassthrough(env, bootstrap),
                PipelineWorker.PythonPeer => PeerProcess.StartPython(env, bootstrap),
                _ => null,
            };
            var processors = new List<ServiceProcess>();
            for (var i = 0; i < @case.Processors; i++)
            {
                processors.Add(await ServiceProcess.StartAsync(env, "FilterKafkaProcessor", $"filter-kafka-processor-{i}", processorEnv, services, cancellationToken));
            }

            if (processors.Count > 1)
            {
                // A later member's join makes the group rebalance seconds after it is healthy; measuring across that
                // pause would measure the rebalance, so wait until every member holds partitions.
                var settle = Stopwatch.StartNew();
                while (!processors.All(p => p.HoldsPartitions) && settle.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(200, cancellationToken);
                }
            }

            if (@case.BridgeClients is { } count)
            {
                var bridge = await ServiceProcess.StartAsync(env, "WebSocketBridge", "websocket-bridge",
                    new Dictionary<string, string>
                    {
                        ["KAFKA_BROKERS"] = bootstrap,
                        ["Bridge__MaxConnections"] = (count + 10).ToString(),

                        // Every bench client connects from 127.0.0.1: the per-address caps (16 WebSockets, 64 connections,
                        // 20 requests a second) would refuse all but a few.
                        ["Bridge__MaxConnectionsPerAddress"] = (count + 10).ToString(),
                        ["Bridge__MaxHttpConnectionsPerAddress"] = (count + 10).ToString(),
                        ["Bridge__RequestsPerAddressPerSecond"] = "0",
                    }, services, cancellationToken);
                if (count > 0)
                {
                    clients = new BridgeLoad(bridge.Url, count);
                    await clients.StartAsync(cancellationToken);
                    Console.WriteLine($"  {count} WebSocket clients connected to the bridge, subscribed to every stream");
                }
            }

            var quick = env.Quick;
            var load = new PipelineLoad(new PipelineLoadSettings(
                bootstrap,
                Streams: PipelineStreams,
                ChunkSamples: @case.ChunkSamples,
                @case.Format,
                // The processor's rate climbs for several seconds after start (tiered JIT and dynamic PGO, the GC sizing
                // its generations, librdkafka's batches growing): measured from 3 s in, runs of one setup differed 2x.
                Warmup: PipelineWarmup(env),
                ThroughputDuration: PipelineThroughputWindow(env),
                LatencyDuration: TimeSpan.FromSeconds(quick ? 2 : 10),
                LatencyRate,
                // At most ~8 MiB of input in flight (~1 MiB per partition, ~2 MiB of output with raw + filtered): the dev
                // broker keeps only the newest ~5 MiB of each partition, so the output consumer must never lag more.
                // A JSON sample takes ~20 bytes.
                MaxBacklogSamples: 8 * 1024 * 1024 / (@case.Format == SampleFormat.Json ? 24 : sizeof(double)))
            {
                Nice = LoadNice,
            }, _progress);
            var result = await load.RunAsync(cancellationToken);
            Console.WriteLine($"  => {result.SustainedSamplesPerSecond / 1e6:0.00} M samples/s sustained; lost {result.Lost}, duplicates {result.Duplicates}; " +
                              $"latency p50/p95/p99 {Fmt(result.Latency?.P50)}/{Fmt(result.Latency?.P95)}/{Fmt(result.Latency?.P99)} ms at {result.LatencyOfferedRate / 1e6:0.00} M samples/s");
            BridgeLoadResult? watched = null;
            if (@case.BridgeClients is not null)
            {
                watched = clients?.Summarize(result.LatencyFromMs, result.LatencyToMs) ?? new BridgeLoadResult(0, 0, null, 0, 0);
                Console.WriteLine($"  => bridge clients during the latency phase: {watched.Clients} connected, {watched.DataMessagesPerClientPerSecond:0.0} data messages/s each, " +
                                  $"added delay p50/p95/p99 {Fmt(watched.Delay?.P50)}/{Fmt(watched.Delay?.P95)}/{Fmt(watched.Delay?.P99)} ms, {watched.Dropped} frames dropped, {watched.Failures} failures");
            }

            return (result, watched);
        }
        finally
        {
            if (clients is not null)
            {
                await clients.DisposeAsync();
            }

            // The worker first, then the processors and services (they commit and leave the group), then the broker; after an
            // interrupt all of them at once (ServiceProcess.StopAllAsync).
            var interrupted = cancellationToken.IsCancellationRequested;
            var stopPeer = peer?.StopAsync(interrupted ? ServiceProcess.InterruptedStopGrace : PeerProcess.StopGrace) ?? Task.CompletedTask;
            if (!interrupted)
            {
                await stopPeer;
            }

            await ServiceProcess.StopAllAsync(services, cancellationToken);
            await stopPeer;
        }
    }

    private async Task<List<HttpLoadResult>> RunHttpAsync(CancellationToken cancellationToken)
    {
        var services = new List<ServiceProcess>();
        try
        {
            var service = await ServiceProcess.StartAsync(env, "FilterService", "filter-service", new Dictionary<string, string>(), services, cancellationToken);
            var gateway = await ServiceProcess.StartAsync(env, "FilterGateway", "filter-gateway", GatewayEnv(service.Url), services, cancellationToken);
            return await HttpRowsAsync(service.Url, gateway.Url, cancellationToken);
        }
        finally
        {
            await ServiceProcess.StopAllAsync(services, cancellationToken);
        }
    }

    private async Task<List<HttpLoadResult>> HttpRowsAsync(Uri service, Uri gateway, CancellationToken cancellationToken)
    {
        var (warmup, duration) = (HttpWarmup(env), HttpDuration(env));
        var results = new List<HttpLoadResult>();
        foreach (var binary in new[] { false, true })
        {
            foreach (var (target, url) in new[] { ("gateway", gateway), ("direct", service) })
            {
                var result = await HttpLoad.RunAsync(url, target, "kalman", binary, samples: 4096, concurrency: 8, warmup, duration, cancellationToken);
                Console.WriteLine($"  => {target,-7} {result.Encoding,-6}: {result.SamplesPerSecond / 1e6:0.00} M samples/s, {result.Requests} requests, " +
                                  $"p50/p99 {Fmt(result.Latency?.P50)}/{Fmt(result.Latency?.P99)} ms, {result.Failures} failed");
                results.Add(result);
            }
        }

        return results;
    }

    /// <summary>
    /// The environment of a pipeline case's processor. <c>Processor:DevBrokerCompensation</c> only with the dev broker the
    /// bench starts (<paramref name="brokers"/> null), as in the state and mixed scenarios: on a <c>--brokers</c> cluster
    /// it would scan every output partition at each assignment for what the cluster already hides (docs/processor.md).
    /// Until 2026-12-05 the pipeline cases set it whatever the cluster. <c>--processor-env</c> settings win.
    /// </summary>
    internal static Dictionary<string, string> ProcessorEnvironment(
        PipelineCase @case, string bootstrap, string? brokers, IReadOnlyDictionary<string, string>? processorOverrides)
    {
        var environment = new Dictionary<string, string>
        {
            ["KAFKA_BROKERS"] = bootstrap,
            ["FILTER_ALGORITHM"] = @case.Algorithm,
            ["FILTER_MODE"] = @case.Remote ? "remote" : "local",
            ["Processor__RateLogSeconds"] = "5",
        };
        AddProcessorSettings(environment, brokers, processorOverrides);
        return environment;
    }

    /// <summary>
    /// What every scenario's processor gets on top of its scenario's own settings: <c>Processor:DevBrokerCompensation</c>
    /// when the run uses the dev broker the bench starts (<paramref name="brokers"/> null; it shows aborted transactions'
    /// records, a real cluster hides them, docs/processor.md), then the <c>--processor-env</c> settings, which win. Until
    /// 2026-12-06 the state and mixed scenarios never got the latter: their runs "with" a setting ran without it.
    /// </summary>
    internal static void AddProcessorSettings(IDictionary<string, string> environment, string? brokers, IReadOnlyDictionary<string, string>? processorOverrides)
    {
        if (brokers is null)
        {
            environment["Processor__DevBrokerCompensation"] = "true";
        }

        foreach (var (key, value) in processorOverrides ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }
    }

    /// <summary><paramref name="brokers"/>, or a fresh embedded dev broker (added to <paramref name="services"/> to be stopped).</summary>
    internal static async Task<string> BrokerAsync(BenchEnvironment env, string? brokers, List<ServiceProcess> services, CancellationToken cancellationToken)
    {
        if (brokers is not null)
        {
            // A cluster that does not answer is one error line naming it (KafkaException: VerbAction), before any service
            // starts: until 2026-12-05 the pipeline cases started a processor and said, 60 s later, that it was not healthy.
            using var admin = new AdminClientBuilder(KafkaClientProperties.ApplyFromEnvironment(new AdminClientConfig
            {
                BootstrapServers = brokers,
                ClientId = KafkaConnection.BenchClientId,
            })).SetLogHandler((_, _) => { }).Build(); // the exception says it once; librdkafka would log each connect
            admin.GetMetadata(TimeSpan.FromSeconds(10));
            return brokers;
        }

        var port = ServiceProcess.FreePort();
        await ServiceProcess.StartAsync(env, "SignalPipeline.DevBroker", "kafka",
            new Dictionary<string, string> { ["DevBroker__BootstrapPort"] = port.ToString() }, services, cancellationToken);
        return $"127.0.0.1:{port}";
    }

    /// <summary>A pipeline case's warm-up and throughput window (named in its report; until 2026-12-06 a --quick report
    /// said 10 s and 12 s, the full run's, while it measured 1 s and 2 s).</summary>
    public static TimeSpan PipelineWarmup(BenchEnvironment env) => TimeSpan.FromSeconds(env.Quick ? 1 : 10);

    public static TimeSpan PipelineThroughputWindow(BenchEnvironment env) => TimeSpan.FromSeconds(env.Quick ? 2 : 12);

    public static TimeSpan AbusePhase(BenchEnvironment env) => TimeSpan.FromSeconds(env.Quick ? 5 : 20);

    /// <summary>The HTTP scenario's warm-up and measured time per row (named in its report).</summary>
    public static TimeSpan HttpWarmup(BenchEnvironment env) => TimeSpan.FromSeconds(env.Quick ? 1 : 2);

    public static TimeSpan HttpDuration(BenchEnvironment env) => TimeSpan.FromSeconds(env.Quick ? 2 : 8);

    internal static Dictionary<string, string> GatewayEnv(Uri service)
    {
        var url = service.ToString().TrimEnd('/');
        return new Dictionary<string, string>
        {
            ["KALMAN_SERVICE_URL"] = url,
            ["RLS_SERVICE_URL"] = url,
            ["LS_SERVICE_URL"] = url,
            ["LMS_SERVICE_URL"] = url,
        };
    }

    internal static string Fmt(double? value) => value?.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) ?? "-";
}

/// <summary>Progress lines written to the console by the thread that reports them.</summary>
internal sealed class ConsoleLines : IProgress<string>
{
    public void Report(string value) => Console.WriteLine(value);
}
