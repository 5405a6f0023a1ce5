using System.Buffers.Text;
using System.Net.WebSockets;
using System.Text;

namespace SignalPipeline.Cli.Bench;

/// <summary>What the bridge's WebSocket clients saw during a time window.</summary>
/// <param name="Clients">Clients connected (and still connected at the end).</param>
/// <param name="DataMessagesPerClientPerSecond">Mean <c>data</c> messages each client received per second.</param>
/// <param name="Delay">Per <c>data</c> message: client receipt minus the bridge's arrival (<c>received_ms</c>) of the
/// newest chunk in it, i.e. the delay the bridge adds (frame interval, queueing, sending); same machine, same clock.</param>
/// <param name="Dropped">Frames the bridge dropped for these clients in the window (drop-oldest queues).</param>
public sealed record BridgeLoadResult(int Clients, double DataMessagesPerClientPerSecond, LatencySummary? Delay, long Dropped, int Failures);

/// <summary>
/// <paramref name="clients"/> WebSocket clients of the bridge, each subscribed to every stream at the default
/// (decimated) point budget, reading as fast as they can. Each reads into one reused buffer and only scans its
/// messages for <c>received_ms</c> and <c>dropped</c> (no JSON parse): the bench must not starve the bridge it measures.
/// </summary>
public sealed class BridgeLoad(Uri bridge, int clients) : IAsyncDisposable
{
    private static readonly byte[] Subscribe = Encoding.UTF8.GetBytes("{\"type\":\"subscribe\",\"streams\":[\"*\"]}");
    private static readonly byte[] DataPrefix = Encoding.UTF8.GetBytes("{\"type\":\"data\"");
    private static readonly byte[] ReceivedField = Encoding.UTF8.GetBytes("\"received_ms\":");
    private static readonly byte[] DroppedField = Encoding.UTF8.GetBytes("\"dropped\":");

    private readonly CancellationTokenSource _stop = new();
    private readonly List<(long ArrivedMs, long DelayMs, long Dropped)>[] _messages = [.. Enumerable.Range(0, clients).Select(_ => new List<(long, long, long)>())];
    private readonly List<Task> _loops = [];
    private int _connected;
    private int _failures;

    /// <summary>Connects every client and subscribes it; returns once all are connected.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var ws = new UriBuilder(bridge) { Scheme = bridge.Scheme == "https" ? "wss" : "ws", Path = "/ws" }.Uri;
        var sockets = await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            var socket = new ClientWebSocket();
            await socket.ConnectAsync(ws, cancellationToken).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            await socket.SendAsync(Subscribe, WebSocketMessageType.Text, true, cancellationToken);
            return socket;
        }));
        _connected = sockets.Length;
        for (var i = 0; i < sockets.Length; i++)
        {
            var client = i;
            _loops.Add(Task.Run(() => ReadAsync(sockets[client], client, _stop.Token), CancellationToken.None));
        }
    }

    /// <summary>The clients' figures for messages that arrived between <paramref name="fromMs"/> and <paramref name="toMs"/> (Unix ms).</summary>
    public BridgeLoadResult Summarize(long fromMs, long toMs)
    {
        var delays = new LatencyRecorder();
        long count = 0, dropped = 0;
        for (var i = 0; i < clients; i++)
        {
            lock (_messages[i])
            {
                // The bridge sends each client's running drop count: the window's drops are its growth.
                long droppedBefore = 0, droppedAtEnd = 0;
                foreach (var (arrived, delay, droppedSoFar) in _messages[i])
                {
                    if (arrived < fromMs)
                    {
                        droppedBefore = droppedSoFar;
                    }

                    if (arrived <= toMs)
                    {
                        droppedAtEnd = droppedSoFar;
                    }

                    if (arrived >= fromMs && arrived <= toMs)
                    {
                        delays.Record(delay);
                        count++;
                    }
                }

                dropped += droppedAtEnd - droppedBefore;
            }
        }

        var seconds = Math.Max(1, toMs - fromMs) / 1000.0;
        return new BridgeLoadResult(_connected - Volatile.Read(ref _failures), count / (double)clients / seconds, delays.Summarize(),
            dropped, Volatile.Read(ref _failures));
    }

    private async Task ReadAsync(ClientWebSocket socket, int client, CancellationToken cancellationToken)
    {
        var buffer = new byte[4 << 20];
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var count = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (count == buffer.Length)
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }

                    result = await socket.ReceiveAsync(buffer.AsMemory(count), cancellationToken);
                    count += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    Interlocked.Increment(ref _failures);
                    return;
                }

                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                var message = buffer.AsSpan(0, count);
                if (!message.StartsWith(DataPrefix))
                {
                    continue; // hello, status
                }

                var newest = NewestReceivedMs(message);
                TryReadLong(message, message.IndexOf(DroppedField), DroppedField.Length, out var dropped);
                if (newest > 0)
                {
                    lock (_messages[client])
                    {
                        _messages[client].Add((now, now - newest, dropped));
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (WebSocketException)
        {
            Interlocked.Increment(ref _failures);
        }
        finally
        {
            socket.Abort();
            socket.Dispose();
        }
    }

    /// <summary>The largest <c>received_ms</c> of the message's frames (one per stream in it).</summary>
    private static long NewestReceivedMs(ReadOnlySpan<byte> message)
    {
        long newest = 0;
        for (var at = message.IndexOf(ReceivedField); at >= 0;)
        {
            if (TryReadLong(message, at, ReceivedField.Length, out var value))
            {
                newest = Math.Max(newest, value);
            }

            var next = message[(at + ReceivedField.Length)..].IndexOf(ReceivedField);
            at = next < 0 ? -1 : at + ReceivedField.Length + next;
        }

        return newest;
    }

    private static bool TryReadLong(ReadOnlySpan<byte> message, int fieldAt, int fieldLength, out long value)
    {
        value = 0;
        return fieldAt >= 0 && Utf8Parser.TryParse(message[(fieldAt + fieldLength)..], out value, out _);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}
