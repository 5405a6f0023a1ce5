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

    public static void WriteStatus(Utf8JsonWriter json, ClientSummary summary)
    {
        json.WriteStartObject();
        json.WriteString("type", "status");
        json.WriteStartArray("streams");
        foreach (var stream in summary.Streams)
        {
            json.WriteStringValue(stream);
        }

        json.WriteEndArray();
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
