using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using WebSocketBridge.Clients;
using WebSocketBridge.Streams;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// A data message larger than <see cref="ClientMessages.FragmentBytes"/> goes out as fragments of one message, so a
/// slow client holds one fragment rather than a copy of the whole beat (docs/websocket-bridge.md, "Limits").
/// </summary>
public sealed class DataMessageFragmentsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public static TheoryData<int> BufferSizes()
    {
        // Every size from the smallest to past the whole message: each boundary (the header, a comma, "]}") lands at the
        // end of a fragment at least once.
        var sizes = new TheoryData<int>();
        for (var size = 128; size <= 1100; size += 7)
        {
            sizes.Add(size);
        }

        return sizes;
    }

    [Theory]
    [MemberData(nameof(BufferSizes))]
    public async Task EveryFragmentFitsTheBufferAndTogetherTheyAreTheMessage(int bufferSize)
    {
        List<byte[]> payloads =
        [
            Encoding.UTF8.GetBytes("""{"stream_id":"a","raw":[1.5,2.25,3.125],"filtered":[1,2,3]}"""),
            Encoding.UTF8.GetBytes("{\"stream_id\":\"b\",\"raw\":[" + string.Join(',', Enumerable.Range(0, 120)) + "]}"),
            Encoding.UTF8.GetBytes("""{"stream_id":"c"}"""),
        ];
        var fragments = new List<(byte[] Bytes, bool Last)>();

        await ClientMessages.SendDataAsync(new byte[bufferSize], 1_764_600_000_123, 7, payloads,
            (bytes, last, _) =>
            {
                fragments.Add((bytes.ToArray(), last));
                return ValueTask.CompletedTask;
            },
            CancellationToken.None);

        Assert.All(fragments, f => Assert.InRange(f.Bytes.Length, 1, bufferSize));
        Assert.Equal([.. Enumerable.Repeat(false, fragments.Count - 1), true], fragments.Select(f => f.Last));
        var message = Encoding.UTF8.GetString([.. fragments.SelectMany(f => f.Bytes)]);
        Assert.Equal(
            """{"type":"data","server_ms":1764600000123,"dropped":7,"frames":[""" + string.Join(',', payloads.Select(Encoding.UTF8.GetString)) + "]}",
            message);
        using var json = JsonDocument.Parse(message);
        Assert.Equal(["a", "b", "c"], json.RootElement.GetProperty("frames").EnumerateArray().Select(f => f.GetProperty("stream_id").GetString()));
    }

    [Fact]
    public async Task AMessageWithoutFramesIsOneFrame()
    {
        var fragments = new List<(byte[] Bytes, bool Last)>();
        await ClientMessages.SendDataAsync(new byte[ClientMessages.FragmentBytes], 5, 0, [],
            (bytes, last, _) =>
            {
                fragments.Add((bytes.ToArray(), last));
                return ValueTask.CompletedTask;
            },
            CancellationToken.None);

        var (bytes, last) = Assert.Single(fragments);
        Assert.True(last);
        Assert.Equal("""{"type":"data","server_ms":5,"dropped":0,"frames":[]}""", Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task AnUndecimatedFrameOfHundredsOfKilobytesReachesAClientWholeInFragments()
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        using var socket = new ClientWebSocket();
        var uri = new UriBuilder(bridge.Address) { Scheme = "ws", Path = "/ws", Query = "raw=1" }.Uri;
        await socket.ConnectAsync(uri, CancellationToken.None).WaitAsync(Patience);
        await socket.SendAsync("""{"type":"subscribe","streams":["big"]}"""u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None).WaitAsync(Patience);

        // 20,000 full-precision doubles, raw and filtered: about 800 KB of JSON in one frame.
        var random = new Random(14);
        var raw = Enumerable.Range(0, 20_000).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var filtered = raw.Select(x => x / 3).ToArray();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();

        var buffer = new byte[4 << 20];
        var largestRead = 0;
        var appended = false;
        while (true)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(Patience);
                message.Write(buffer, 0, result.Count);
                largestRead = Math.Max(largestRead, result.Count);
            }
            while (!result.EndOfMessage);

            using var json = JsonDocument.Parse(message.ToArray());
            var type = json.RootElement.GetProperty("type").GetString();
            if (type == "status" && !appended)
            {
                streams.GetOrAdd("big")!.Append(0, "kalman", raw, filtered, now, now, now);
                appended = true;
            }

            if (type != "data")
            {
                continue;
            }

            var frame = Assert.Single(json.RootElement.GetProperty("frames").EnumerateArray());
            Assert.True(message.Length > 10 * ClientMessages.FragmentBytes, $"a message of {message.Length} bytes");
            Assert.Equal(raw, frame.GetProperty("raw").EnumerateArray().Select(e => e.GetDouble()));
            Assert.Equal(filtered, frame.GetProperty("filtered").EnumerateArray().Select(e => e.GetDouble()));
            // A WebSocket read returns at most one frame: none was larger than a fragment.
            Assert.InRange(largestRead, 1, ClientMessages.FragmentBytes);
            return;
        }
    }
}
