using System.Text.Json;
using System.Text.Unicode;

namespace WebSocketBridge.Clients;

/// <summary>The server-to-client messages of /ws (docs/websocket-bridge.md): hello, status and data.</summary>
internal static class ClientMessages
{
    public static void WriteHello(Utf8JsonWriter json, long clientId, BridgeOptions options, int pointsPerSecond, bool raw)
    {
        json.WriteStartObject();
        json.WriteString("type", "hello");
        json.WriteNumber("client_id", clientId);
        json.WriteNumber("frame_rate", options.FrameRate);
        json.WriteNumber("points_per_second", pointsPerSecond);
        json.WriteBoolean("raw", raw);
        json.WriteNumber("queue_frames", options.ClientQueueFrames);
        json.WriteEndObject();
    }

    /// <summary>
    /// Bytes of stream ids a status lists (escaped as written); past them the list stops and <c>streams_total</c> still
    /// counts them all. 256 ids of 256 characters that JSON escapes (<c>&lt;</c> is six bytes) would make every status,
    /// the answer to any command, about 400 KB.
    /// </summary>
    public const int MaxStatusStreamBytes = 16 * 1024;

    public static void WriteStatus(Utf8JsonWriter json, ClientSummary summary)
    {
        json.WriteStartObject();
        json.WriteString("type", "status");
        json.WriteStartArray("streams");
        var start = json.BytesCommitted + json.BytesPending;
        foreach (var stream in summary.Streams)
        {
            if (json.BytesCommitted + json.BytesPending - start >= MaxStatusStreamBytes)
            {
                break;
            }

            json.WriteStringValue(stream);
        }

        json.WriteEndArray();
        json.WriteNumber("streams_total", summary.Streams.Count);
        json.WriteBoolean("paused", summary.Paused);
        json.WriteBoolean("raw", summary.Raw);
        json.WriteNumber("points_per_second", summary.PointsPerSecond);
        json.WriteNumber("frames_sent", summary.FramesSent);
        json.WriteNumber("dropped", summary.Dropped);
        json.WriteEndObject();
    }

    /// <summary>
    /// Most bytes of one WebSocket frame of a data message: a larger message goes out as several fragments of one message
    /// (RFC 6455 5.4; browsers and <c>ClientWebSocket</c> hand it over whole, or until <c>EndOfMessage</c>). So what a
    /// client holds while it reads slowly is one fragment, not a copy of a beat's every payload. The socket
    /// (<c>ManagedWebSocket</c>) copies each frame with its header, at most 14 bytes, into a buffer rented from
    /// <c>ArrayPool&lt;byte&gt;.Shared</c>: 16 bytes under 64 KiB keep that buffer, and this one, in the pool's 64 KiB class.
    /// </summary>
    public const int FragmentBytes = 64 * 1024 - 16;

    private static readonly byte[] Comma = ","u8.ToArray();
    private static readonly byte[] End = "]}"u8.ToArray();

    /// <summary>
    /// Sends a data message around the frames' cached payloads (written once per resolution, shared by clients) through
    /// <paramref name="buffer"/>: each time it is full it goes out as a fragment, the rest as the message's last frame.
    /// </summary>
    public static async ValueTask SendDataAsync(
        Memory<byte> buffer, long serverMs, long dropped, List<byte[]> payloads,
        Func<ReadOnlyMemory<byte>, bool, CancellationToken, ValueTask> send, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(buffer.Length, 128);
        Utf8.TryWrite(buffer.Span, $"{{\"type\":\"data\",\"server_ms\":{serverMs},\"dropped\":{dropped},\"frames\":[", out var used);
        for (var i = 0; i < payloads.Count; i++)
        {
            if (i > 0)
            {
                used = await AppendAsync(Comma, used);
            }

            used = await AppendAsync(payloads[i], used);
        }

        used = await AppendAsync(End, used);
        await send(buffer[..used], true, cancellationToken);

        async ValueTask<int> AppendAsync(ReadOnlyMemory<byte> bytes, int at)
        {
            while (bytes.Length > 0)
            {
                if (at == buffer.Length)
                {
                    await send(buffer, false, cancellationToken);
                    at = 0;
                }

                var n = Math.Min(bytes.Length, buffer.Length - at);
                bytes[..n].CopyTo(buffer[at..]);
                bytes = bytes[n..];
                at += n;
            }

            return at;
        }
    }
}
