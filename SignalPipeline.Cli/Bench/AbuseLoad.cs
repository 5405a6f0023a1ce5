using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Bench;

/// <summary>What the normal clients saw in one phase (without or with abuse).
/// <see cref="CpusUsed"/>: CPU seconds per second each service used in the phase.
/// <see cref="DirectHttp"/> is the same call straight to the filter service, so that the gateway's share of a delay shows.</summary>
public sealed record NormalClientFigures(LatencySummary? Http, long HttpRequests, long HttpFailures, LatencySummary? FrameDelay, double FramesPerSecond,
    LatencySummary? DirectHttp = null, IReadOnlyDictionary<string, double>? CpusUsed = null);

/// <summary>One abuse run: the normal clients before and during the abuse, the abusers' answers, peak RSS, survivors.</summary>
public sealed record AbuseResult(NormalClientFigures Baseline, NormalClientFigures Abused, IReadOnlyDictionary<string, long> Answers,
    IReadOnlyDictionary<string, long> PeakRssBytes, bool AllAlive, string? CpuSplit = null);

/// <summary>
/// The abuse scenario against a filter service, the gateway and the bridge (started by the caller, the gateway and
/// bridge trusting X-Forwarded-For from loopback as they would from the Ingress, so each simulated client has its own
/// address). A normal HTTP client calls <c>/kalman/audio/run</c> through the gateway one call at a time and a normal
/// /ws client watches one stream, first alone, then while the abusers run. Every abuser counts the answers it gets.
/// </summary>
public sealed class AbuseLoad(Uri gateway, Uri service, Uri bridge, string bootstrap, TimeSpan phase, Func<IReadOnlyDictionary<string, TimeSpan>> cpuTimes)
{
    /// <summary>
    /// BENCH_ABUSE_ONLY: a comma-separated subset of the abusers (batch, large, abandoned, flood, stalled, idle) to run,
    /// to find which of them costs the normal clients what (docs/benchmarks.md); all of them when unset.
    /// </summary>
    private static readonly string[] Only = (Environment.GetEnvironmentVariable("BENCH_ABUSE_ONLY") ?? "batch,large,abandoned,flood,stalled,idle")
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private const string NormalHttpAddress = "203.0.113.10";
    private const string NormalWsAddress = "203.0.113.20";
    private readonly ConcurrentDictionary<string, long> _answers = new();
    private readonly List<(TimeSpan At, double Ms, bool Ok)> _http = [];
    private readonly List<(TimeSpan At, double Ms, bool Ok)> _direct = [];
    private readonly List<(TimeSpan At, double DelayMs)> _frames = [];
    private readonly Stopwatch _clock = new();
    private readonly ConcurrentBag<(TimeSpan At, string What)> _marks = [];
    private long _startedUnixMs;
    private readonly TaskCompletionSource _firstFrame = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<(NormalClientFigures Baseline, NormalClientFigures Abused, IReadOnlyDictionary<string, long> Answers)> RunAsync(CancellationToken cancellationToken)
    {
        using var stopAll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(60) };
        using var direct = new HttpClient { BaseAddress = service, Timeout = TimeSpan.FromSeconds(60) };
        // Hundreds of abuser loops share this process's pool with the normal /ws client: let it grow at once
        // instead of injecting a thread every half second, so the normal client's continuations are not starved here.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));
        _clock.Start();
        _startedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var background = new List<Task>
        {
            FeedBridgeAsync(stopAll.Token),
            // The normal HTTP client runs on its own thread with blocking calls: what it measures must not include
            // waiting behind the abusers' work items in this process's thread pool.
            Task.Factory.StartNew(() => NormalHttp(http, _http, stopAll.Token), stopAll.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default),
            Task.Factory.StartNew(() => NormalHttp(direct, _direct, stopAll.Token), stopAll.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default),
            NormalWsAsync(stopAll.Token),
        };

        // Warm-up: until the /ws client has its first frame (the bridge's consumer group may take a while to be
        // assigned on a loaded machine), then the phases alternate, so that a change of the machine's load (other
        // work on it) weighs on both alike instead of on whichever phase it happens to fall.
        await _firstFrame.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var sliced = IsSliced(phase);
        await WarmAbusePathsAsync(http, sliced ? WarmUp : TimeSpan.FromSeconds(1), cancellationToken);
        var cycles = sliced ? 3 : 1;
        var slice = phase / cycles;
        var baseline = new List<(TimeSpan From, TimeSpan To)>();
        var abused = new List<(TimeSpan From, TimeSpan To)>();
        var baselineCpu = new Dictionary<string, TimeSpan>();
        var abusedCpu = new Dictionary<string, TimeSpan>();
        for (var cycle = 0; cycle < cycles; cycle++)
        {
            await MeasureAsync(baseline, baselineCpu, slice, cancellationToken);
            using var stopAbuse = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var abusers = new List<Task>();
            abusers.AddRange(Abusers(http, 0, stopAbuse.Token));
            await MeasureAsync(abused, abusedCpu, slice, cancellationToken);
            await stopAbuse.CancelAsync();
            await SettleAsync("abusers", abusers);
            // What the abuse left running on the server (a large request finishing) is not counted as the next quiet phase.
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        }

        await stopAll.CancelAsync();
        await SettleAsync("normal clients and feed", background);
        WriteTimeline(baseline, abused);
        return (Figures(baseline, baselineCpu), Figures(abused, abusedCpu), new Dictionary<string, long>(_answers));
    }

    /// <summary>
    /// BENCH_ABUSE_TIMELINE=file: every normal call and /ws frame of the run with its time (ms since the start) and
    /// latency, the slices (<c>B</c> alone, <c>A</c> abused: from, to) and marks of the abusers (<c>M</c>: the idle
    /// sockets' connecting, the stalled readers' subscriptions, the floods' connections), appended one per line, so that
    /// the slow calls behind a p99 can be placed in their slice (docs/benchmarks.md, Abuse).
    /// </summary>
    private void WriteTimeline(List<(TimeSpan From, TimeSpan To)> baseline, List<(TimeSpan From, TimeSpan To)> abused)
    {
        if (Environment.GetEnvironmentVariable("BENCH_ABUSE_TIMELINE") is not { Length: > 0 } file)
        {
            return;
        }

        static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture);
        static string Inv(FormattableString s) => FormattableString.Invariant(s);
        var lines = new List<string> { $"T {_startedUnixMs}" };
        lines.AddRange(baseline.Select(w => $"B {Ms(w.From)} {Ms(w.To)}"));
        lines.AddRange(abused.Select(w => $"A {Ms(w.From)} {Ms(w.To)}"));
        lock (_http)
        {
            lines.AddRange(_http.Select(c => Inv($"G {Ms(c.At)} {c.Ms:0.0} {c.Ok}")));
        }

        lock (_direct)
        {
            lines.AddRange(_direct.Select(c => Inv($"D {Ms(c.At)} {c.Ms:0.0} {c.Ok}")));
        }

        lock (_frames)
        {
            lines.AddRange(_frames.Select(f => Inv($"W {Ms(f.At)} {f.DelayMs:0.0}")));
        }

        lines.AddRange(_marks.OrderBy(m => m.At).Select(m => $"M {Ms(m.At)} {m.What}"));
        File.AppendAllLines(file, lines);
    }

    /// <summary>
    /// Whether a phase is long enough to be measured in 3 alternating slices after a full <see cref="WarmUp"/> (the
    /// bench's phases); the CI smoke run's short phase is one slice each. The report describes the run by the same rule.
    /// </summary>
    public static bool IsSliced(TimeSpan phase) => phase.TotalSeconds >= 15;

    /// <summary>How long the abusers run before the measured slices of a full phase (<see cref="WarmAbusePathsAsync"/>).</summary>
    public static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The abusers' paths run once before anything is measured: a server in production has long compiled them, but here
    /// they were new in the first abused slice (measured 2026-11-30 13:34 UTC with perf: the gateway spent 12 % of its
    /// CPU in the JIT during the abuse). The bridge's abusers too since 2026-12-01 (before, only the HTTP ones). From
    /// other client addresses than the measured abusers', so that no per-address budget (the gateway's refusals, the
    /// bridge's connection rate, both per exact address) carries over. Their answers are not counted.
    /// </summary>
    private async Task WarmAbusePathsAsync(HttpClient http, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var loops = Abusers(http, 100, stop.Token).ToList();
        await Task.Delay(duration, cancellationToken);
        await stop.CancelAsync();
        await SettleAsync("warm-up", loops);
        _answers.Clear();
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
    }

    /// <summary>The abusers' loops; <paramref name="address"/> shifts their client addresses (198.51.100.x).</summary>
    private IEnumerable<Task> Abusers(HttpClient http, int address, CancellationToken stop)
        => Loops("batch", 2, i => OversizedBatchAsync(http, address + i, stop))
            .Concat(Loops("large", 8, i => LargeBodyAsync(http, address + i, stop)))
            .Concat(Loops("abandoned", 2, i => AbandonedSlowAsync(http, address + i, stop)))
            .Concat(Loops("flood", 2, i => SubscriptionFloodAsync(address + i, stop)))
            .Concat(Loops("stalled", 8, i => StalledReaderAsync(address + i, stop)))
            .Concat(Loops("idle", 1, _ => IdleSocketsAsync(address, stop)));

    /// <summary>One measured slice: its time window and the CPU time each service used in it.</summary>
    private async Task MeasureAsync(List<(TimeSpan From, TimeSpan To)> windows, Dictionary<string, TimeSpan> cpu, TimeSpan slice, CancellationToken cancellationToken)
    {
        var cpuBefore = cpuTimes();
        var from = _clock.Elapsed;
        await Task.Delay(slice, cancellationToken);
        windows.Add((from, _clock.Elapsed));
        foreach (var (name, after) in cpuTimes())
        {
            cpu[name] = cpu.GetValueOrDefault(name) + (after - cpuBefore.GetValueOrDefault(name));
        }
    }

    /// <summary>Waits up to 30 s for stopped loops; one stuck in a call the server never answers is left behind (and said so).</summary>
    private static async Task SettleAsync(string what, List<Task> tasks)
    {
        var all = Task.WhenAll(tasks).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30), CancellationToken.None)) != all)
        {
            Console.WriteLine($"  ({tasks.Count(t => !t.IsCompleted)} of the {what} still running 30 s after being stopped; left behind)");
        }
    }

    private static IEnumerable<Task> Loops(string abuser, int count, Func<int, Task> loop)
        => Only.Contains(abuser) ? Enumerable.Range(0, count).Select(i => Task.Run(() => loop(i))) : [];

    private NormalClientFigures Figures(List<(TimeSpan From, TimeSpan To)> windows, Dictionary<string, TimeSpan> cpu)
    {
        var (latency, ok, failed) = Calls(_http, windows);
        var (direct, _, _) = Calls(_direct, windows);
        var seconds = windows.Sum(w => (w.To - w.From).TotalSeconds);

        var delays = new LatencyRecorder();
        lock (_frames)
        {
            foreach (var (_, delay) in _frames.Where(f => In(windows, f.At)))
            {
                delays.Record(delay);
            }
        }

        return new NormalClientFigures(latency.Summarize(), ok, failed, delays.Summarize(), delays.Count / seconds, direct.Summarize(),
            cpu.ToDictionary(c => c.Key, c => c.Value.TotalSeconds / seconds));
    }

    private static bool In(List<(TimeSpan From, TimeSpan To)> windows, TimeSpan at) => windows.Any(w => at >= w.From && at < w.To);

    private static (LatencyRecorder Latency, long Ok, long Failed) Calls(List<(TimeSpan At, double Ms, bool Ok)> calls, List<(TimeSpan From, TimeSpan To)> windows)
    {
        var latency = new LatencyRecorder();
        long ok = 0, failed = 0;
        lock (calls)
        {
            foreach (var (_, ms, success) in calls.Where(h => In(windows, h.At)))
            {
                if (success)
                {
                    ok++;
                    latency.Record(ms);
                }
                else
                {
                    failed++;
                }
            }
        }

        return (latency, ok, failed);
    }

    private void Count(string answer) => _answers.AddOrUpdate(answer, 1, (_, n) => n + 1);

    private void Mark(string what) => _marks.Add((_clock.Elapsed, what));

    private static HttpRequestMessage Post(string path, byte[] body, string contentType, string address)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        request.Headers.Add("X-Forwarded-For", address);
        return request;
    }

    private void NormalHttp(HttpClient http, List<(TimeSpan At, double Ms, bool Ok)> calls, CancellationToken stop)
    {
        // The guide's form: a JSON chunk of 4096 samples.
        var body = Encoding.UTF8.GetBytes("{\"signal\":[" + string.Join(",", Enumerable.Range(0, 4096)
            .Select(n => Math.Sin(n * 0.01).ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "]}");
        while (!stop.IsCancellationRequested)
        {
            var started = _clock.Elapsed;
            var ok = false;
            try
            {
                using var request = Post("/kalman/audio/run", body, "application/json", NormalHttpAddress);
                using var response = http.Send(request, stop);
                response.Content.ReadAsStream(stop).CopyTo(Stream.Null);
                ok = response.IsSuccessStatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !stop.IsCancellationRequested)
            {
            }
            catch (OperationCanceledException)
            {
                return;
            }

            lock (calls)
            {
                calls.Add((started, (_clock.Elapsed - started).TotalMilliseconds, ok));
            }

            Thread.Sleep(20);
        }
    }

    private async Task NormalWsAsync(CancellationToken stop)
    {
        using var socket = await ConnectAsync(NormalWsAddress, stop);
        await SendAsync(socket, """{"type":"subscribe","streams":["abuse-0"]}""", stop);
        var buffer = new byte[1 << 20];
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var count = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.AsMemory(count), stop);
                    count += result.Count;
                }
                while (!result.EndOfMessage && count < buffer.Length);

                using var json = JsonDocument.Parse(buffer.AsMemory(0, count));
                if (json.RootElement.GetProperty("type").GetString() == "data")
                {
                    var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    var newest = json.RootElement.GetProperty("frames").EnumerateArray().Max(f => f.GetProperty("received_ms").GetInt64());
                    lock (_frames)
                    {
                        _frames.Add((_clock.Elapsed, now - newest));
                    }

                    _firstFrame.TrySetResult();
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
        }
    }

    /// <summary>Filtered chunks of 8 streams, 2000 samples, 20 per second each, straight into the bridge's topic.</summary>
    private async Task FeedBridgeAsync(CancellationToken stop)
    {
        using var clients = KafkaConnection.CreateFactory(bootstrap, Console.Error, KafkaConnection.BenchClientId);
        using var producer = clients.CreateProducer<byte[], byte[]>(config => config.LingerMs = 2);
        var samples = Enumerable.Range(0, 2000).Select(n => Math.Sin(n * 0.01)).ToArray();
        for (var seq = 0L; !stop.IsCancellationRequested; seq++)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            for (var stream = 0; stream < 8; stream++)
            {
                producer.Produce(PipelineTopics.DefaultOutput, SampleCodec.ToMessage(
                    new FilteredChunk($"abuse-{stream}", seq, "kalman", samples, samples, now, now) { Format = SampleFormat.Float64 }));
            }

            try
            {
                await Task.Delay(50, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        producer.Flush(TimeSpan.FromSeconds(5));
    }

    private async Task<ClientWebSocket> ConnectAsync(string address, CancellationToken stop)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("X-Forwarded-For", address);
        var uri = new UriBuilder(bridge) { Scheme = "ws", Path = "/ws" }.Uri;
        await socket.ConnectAsync(uri, stop).WaitAsync(TimeSpan.FromSeconds(30), stop);
        return socket;
    }

    private static Task SendAsync(ClientWebSocket socket, string text, CancellationToken stop)
        => socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, stop);

    private async Task AnswerLoopAsync(string name, Func<Task<string>> attempt, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                Count($"{name}: {await attempt()}");
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or WebSocketException or OperationCanceledException or IOException)
            {
                Count($"{name}: {ex.GetType().Name}");
                await Task.Delay(100, CancellationToken.None);
            }
        }
    }

    private async Task<string> StatusAsync(HttpClient http, HttpRequestMessage request, CancellationToken stop)
    {
        using (request)
        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop))
        {
            await response.Content.CopyToAsync(Stream.Null, stop);
            return ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    // 20,000 one-sample items for rls order 64: without an item limit, ~680 MB of states.
    private static readonly byte[] OversizedBatch = Encoding.UTF8.GetBytes(
        "{\"params\":{\"order\":64},\"items\":[" + string.Join(",", Enumerable.Repeat("{\"signal\":[0]}", 20_000)) + "]}");

    private Task OversizedBatchAsync(HttpClient http, int i, CancellationToken stop) => AnswerLoopAsync("oversized batch",
        () => StatusAsync(http, Post("/rls/audio/batch", OversizedBatch, "application/json", $"198.51.100.{10 + i}"), stop), stop);

    // 2 Mi samples (16 MiB, the body limit), 8 at once.
    private static readonly byte[] LargeBody = new byte[2 * 1024 * 1024 * sizeof(double)];

    private Task LargeBodyAsync(HttpClient http, int i, CancellationToken stop) => AnswerLoopAsync("16 MiB body",
        () => StatusAsync(http, Post("/kalman/audio/run", LargeBody, "application/octet-stream", $"198.51.100.{20 + i}"), stop), stop);

    private static readonly byte[] SlowBody = new byte[1024 * 1024 * sizeof(double)];

    // rls order 64 over 1 Mi samples takes seconds; the client gives up after 300 ms.
    private Task AbandonedSlowAsync(HttpClient http, int i, CancellationToken stop) => AnswerLoopAsync("abandoned rls(64)", async () =>
    {
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(stop);
        abandon.CancelAfter(300);
        try
        {
            return await StatusAsync(http, Post("/rls/audio/run?order=64", SlowBody, "application/octet-stream", $"198.51.100.{30 + i}"), abandon.Token);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return "abandoned";
        }
    }, stop);

    private Task SubscriptionFloodAsync(int i, CancellationToken stop) => AnswerLoopAsync("subscription flood", async () =>
    {
        using var socket = await ConnectAsync($"198.51.100.{40 + i}", stop);
        Mark("flood-open");
        var buffer = new byte[64 * 1024];
        for (var round = 0; socket.State == WebSocketState.Open; round++)
        {
            // 150 new ids per message stay under the bridge's 4 KiB message limit: the flood meets the subscription cap.
            var ids = string.Join(",", Enumerable.Range(0, 150).Select(n => $"\"f{i}-{round}-{n}\""));
            await SendAsync(socket, $"{{\"type\":\"subscribe\",\"streams\":[{ids}]}}", stop);
            var result = await socket.ReceiveAsync(buffer, stop);
            while (result.MessageType != WebSocketMessageType.Close && !result.EndOfMessage)
            {
                result = await socket.ReceiveAsync(buffer, stop);
            }
        }

        Mark("flood-closed");
        return $"closed {(int?)socket.CloseStatus}";
    }, stop);

    // Subscribed to everything undecimated, never reading: held until the bridge's send timeout cuts it, then again.
    private Task StalledReaderAsync(int i, CancellationToken stop) => AnswerLoopAsync("stalled reader", async () =>
    {
        using var socket = await ConnectAsync($"198.51.100.{50 + i}", stop);
        Mark("stalled-sub");
        await SendAsync(socket, """{"type":"subscribe","streams":["*"],"raw":true}""", stop);
        await Task.Delay(TimeSpan.FromSeconds(15), stop);
        socket.Abort();
        return "held 15 s";
    }, stop);

    /// <summary>1,000 WebSocket upgrades from one address, kept open without subscribing, and 1,000 idle TCP connections to the gateway.</summary>
    private async Task IdleSocketsAsync(int address, CancellationToken stop)
    {
        var sockets = new List<IDisposable>();
        Mark("idle-start");
        try
        {
            for (var n = 0; n < 1000 && !stop.IsCancellationRequested; n++)
            {
                try
                {
                    sockets.Add(await ConnectAsync($"198.51.100.{99 + address}", stop));
                    Count("idle ws: accepted");
                }
                catch (WebSocketException)
                {
                    Count("idle ws: refused");
                }

                var tcp = new TcpClient();
                await tcp.ConnectAsync(gateway.Host, gateway.Port, stop);
                sockets.Add(tcp);
            }

            Mark("idle-done");
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }
}
