// Ad-hoc load harness for the WebSocket bridge: N clients on loopback, each subscribed to every stream (decimated),
// measuring per data message the delay from the bridge's arrival of the frame's newest chunk (received_ms) to the
// client's receipt. Same machine, same clock. Usage, from a folder outside the repository (its Directory.*.props
// would apply to a file-based app inside it):
//   mkdir -p /tmp/b && cp scripts/bench-bridge.cs /tmp/b/ && cd /tmp/b && dotnet run bench-bridge.cs -- ws://127.0.0.1:5180/ws 200 20
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

var url = new Uri(args.Length > 0 ? args[0] : "ws://127.0.0.1:5180/ws");
var clients = args.Length > 1 ? int.Parse(args[1]) : 200;
var seconds = args.Length > 2 ? int.Parse(args[2]) : 30;
var delays = new List<long>[clients];
var messages = new long[clients];
var dropped = new long[clients];
using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 10));
var warmupEnd = DateTimeOffset.UtcNow.AddSeconds(5).ToUnixTimeMilliseconds();
var measureEnd = warmupEnd + seconds * 1000L;

var tasks = Enumerable.Range(0, clients).Select(async i =>
{
    delays[i] = new List<long>(seconds * 40);
    using var ws = new ClientWebSocket();
    await ws.ConnectAsync(url, stop.Token);
    await ws.SendAsync(Encoding.UTF8.GetBytes("{\"type\":\"subscribe\",\"streams\":[\"*\"]}"), WebSocketMessageType.Text, true, stop.Token);
    var buffer = new byte[1 << 20];
    while (!stop.IsCancellationRequested)
    {
        var count = 0;
        ValueWebSocketReceiveResult r;
        do
        {
            r = await ws.ReceiveAsync(buffer.AsMemory(count), stop.Token);
            count += r.Count;
        } while (!r.EndOfMessage);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (now > measureEnd) break;
        using var doc = JsonDocument.Parse(buffer.AsMemory(0, count));
        var root = doc.RootElement;
        if (root.GetProperty("type").GetString() != "data" || now < warmupEnd) continue;
        long newest = 0;
        foreach (var f in root.GetProperty("frames").EnumerateArray()) newest = Math.Max(newest, f.GetProperty("received_ms").GetInt64());
        delays[i].Add(now - newest);
        messages[i]++;
        dropped[i] = root.GetProperty("dropped").GetInt64();
    }
    try { await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None); } catch { }
}).ToArray();

try { await Task.WhenAll(tasks); } catch (Exception ex) { Console.WriteLine($"error: {ex.GetType().Name}: {ex.Message}"); }
var all = delays.Where(d => d is not null).SelectMany(d => d).Order().ToArray();
double Q(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
Console.WriteLine($"clients={clients} seconds={seconds} messages={all.Length} per-client-per-s={all.Length / (double)clients / seconds:F1} " +
    $"delay_ms p50={Q(0.5)} p95={Q(0.95)} p99={Q(0.99)} max={(all.Length > 0 ? all[^1] : 0)} dropped_total={dropped.Sum()}");
