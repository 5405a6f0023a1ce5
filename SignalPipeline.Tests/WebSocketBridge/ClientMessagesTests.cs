using System.Text;
using System.Text.Json;
using global::WebSocketBridge;
using WebSocketBridge.Clients;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The <c>hello</c> and <c>status</c> messages of <c>/ws</c> carry exactly the fields docs/websocket-bridge.md
/// ("Server → client") names, in those names: clients are written against them.
/// </summary>
public sealed class ClientMessagesTests
{
    [Fact]
    public void HelloCarriesTheDocumentedFields()
    {
        var options = new BridgeOptions { FrameRate = 30, ClientQueueFrames = 8 };

        using var hello = Write(json => ClientMessages.WriteHello(json, 7, options, 24_000, raw: false));

        Assert.Equal(["type", "client_id", "frame_rate", "points_per_second", "raw", "queue_frames"], Names(hello));
        Assert.Equal("hello", hello.RootElement.GetProperty("type").GetString());
        Assert.Equal(7, hello.RootElement.GetProperty("client_id").GetInt64());
        Assert.Equal(30, hello.RootElement.GetProperty("frame_rate").GetInt32());
        Assert.Equal(24_000, hello.RootElement.GetProperty("points_per_second").GetInt32());
        Assert.False(hello.RootElement.GetProperty("raw").GetBoolean());
        Assert.Equal(8, hello.RootElement.GetProperty("queue_frames").GetInt32());
    }

    [Fact]
    public void StatusCarriesTheDocumentedFields()
    {
        var summary = new ClientSummary(7, ["sensor-1"], Paused: false, Raw: false, PointsPerSecond: 4000, FramesSent: 120, Dropped: 0, Queued: 0);

        using var status = Write(json => ClientMessages.WriteStatus(json, summary));

        Assert.Equal(["type", "streams", "streams_total", "paused", "raw", "points_per_second", "frames_sent", "dropped"], Names(status));
        Assert.Equal("status", status.RootElement.GetProperty("type").GetString());
        Assert.Equal(["sensor-1"], status.RootElement.GetProperty("streams").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(1, status.RootElement.GetProperty("streams_total").GetInt32());
        Assert.Equal(4000, status.RootElement.GetProperty("points_per_second").GetInt32());
        Assert.Equal(120, status.RootElement.GetProperty("frames_sent").GetInt64());
    }

    [Fact]
    public void StatusListsIdsUpToSixteenKibAndCountsThemAll()
    {
        // 300 ids of 100 bytes: the list stops at the first id that starts past 16 KiB, streams_total counts all 300.
        var ids = Enumerable.Range(0, 300).Select(i => $"{i:D3}".PadRight(100, 'x')).ToList();
        var summary = new ClientSummary(1, ids, false, false, 24_000, 0, 0, 0);

        using var status = Write(json => ClientMessages.WriteStatus(json, summary));

        var listed = status.RootElement.GetProperty("streams").GetArrayLength();
        Assert.Equal(300, status.RootElement.GetProperty("streams_total").GetInt32());
        Assert.InRange(listed, 1, 299);
        Assert.True((listed - 1) * 103 < ClientMessages.MaxStatusStreamBytes, $"{listed} ids listed"); // each id "…", with its comma
        Assert.True(listed * 103 >= ClientMessages.MaxStatusStreamBytes, $"{listed} ids listed");
    }

    private static JsonDocument Write(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            write(json);
        }

        return JsonDocument.Parse(Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static List<string> Names(JsonDocument document) => [.. document.RootElement.EnumerateObject().Select(p => p.Name)];
}
