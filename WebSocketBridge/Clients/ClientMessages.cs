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

    /// <summary>A data message around the frames' cached payloads (written once per resolution, shared by clients); returns its length.</summary>
    public static int WriteData(byte[] message, long serverMs, long dropped, List<byte[]> payloads)
    {
        var span = message.AsSpan();
        Utf8.TryWrite(span, $"{{\"type\":\"data\",\"server_ms\":{serverMs},\"dropped\":{dropped},\"frames\":[", out var written);
        for (var i = 0; i < payloads.Count; i++)
        {
            if (i > 0)
            {
                span[written++] = (byte)',';
            }

            payloads[i].CopyTo(span[written..]);
            written += payloads[i].Length;
        }

        span[written++] = (byte)']';
        span[written++] = (byte)'}';
        return written;
    }
}
