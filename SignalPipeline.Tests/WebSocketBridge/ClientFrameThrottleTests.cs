using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SignalPipeline.Tests.FilterKafkaProcessor;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;
using WebSocketBridge.Clients;
using static SignalPipeline.Tests.WebSocketBridge.RawWebSocketClient;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// Bridge:ClientMessagesPerSecond counts WebSocket frames, not messages (docs/websocket-bridge.md, "Limits"): the
/// WebSocket answers pings and goes past empty fragments inside one ReceiveAsync, and before <see cref="ClientFrameThrottle"/>
/// a client sending only those was never throttled (one client: 1.4-1.8 million pings or 5.6-6.5 million empty fragments
/// a second, a core of the bridge's; docs/benchmarks.md, "Ping and fragment floods").
/// </summary>
public sealed class ClientFrameThrottleTests
{
    private const int FramesPerSecond = 10;
    private const int FloodFrames = 41;

    /// <summary>41 frames, the last of them ending a <c>pause</c> command, written at once.</summary>
    public static TheoryData<string> Floods => ["pings", "empty fragments", "one-byte fragments"];

    [Theory]
    [MemberData(nameof(Floods))]
    public async Task A_flood_of_frames_that_complete_no_message_is_read_at_ClientMessagesPerSecond_and_the_client_is_still_served(string flood)
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:ClientMessagesPerSecond", $"{FramesPerSecond}"));
        using var throttled = DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName,
            "signalpipeline.bridge.messages.throttled");
        using var client = await RawWebSocketClient.ConnectAsync(bridge.Address);
        Assert.Equal("hello", await ReadTextTypeAsync(client));
        await client.WriteAsync(Frame(Text, true, """{"type":"subscribe","streams":["sensor-1"]}"""u8));
        Assert.Equal("status", await ReadTextTypeAsync(client));

        var pause = """{"type":"pause"}"""u8.ToArray();
        byte[][] frames = flood switch
        {
            "pings" => [.. Enumerable.Repeat(Frame(Ping, true, []), FloodFrames - 1), Frame(Text, true, pause)],
            "empty fragments" => [Frame(Text, false, []), .. Enumerable.Repeat(Frame(Continuation, false, []), FloodFrames - 2), Frame(Continuation, true, pause)],
            // JSON may start with white space: the command, one byte a frame.
            _ => [.. new string(' ', FloodFrames - pause.Length).Select(c => (byte)c).Concat(pause)
                .Select((b, i) => Frame(i == 0 ? Text : Continuation, i == FloodFrames - 1, [b]))],
        };
        Assert.Equal(FloodFrames, frames.Length);

        var elapsed = Stopwatch.StartNew();
        await client.WriteAsync(frames.SelectMany(f => f).ToArray());
        var pongs = 0;
        (byte Opcode, bool Fin, byte[] Payload)? answer;
        while ((answer = await client.ReadFrameAsync().WaitAsync(BridgeTestClient.Timeout)) is { Opcode: Pong })
        {
            pongs++;
        }

        Assert.NotNull(answer);
        using (var status = JsonDocument.Parse(answer.Value.Payload))
        {
            Assert.Equal("status", status.RootElement.GetProperty("type").GetString());
            Assert.True(status.RootElement.GetProperty("paused").GetBoolean());
        }

        // The bucket holds at most FramesPerSecond tokens when the flood starts, so the last frame gets its token no
        // sooner than (41 - 10) / 10 s later. Read for free, the flood took milliseconds.
        Assert.True(elapsed.Elapsed >= TimeSpan.FromSeconds(3.0),
            $"the {flood} and the command were read in {elapsed.ElapsedMilliseconds} ms: {FloodFrames} frames at {FramesPerSecond} a second take over 3 s");
        Assert.Equal(flood == "pings" ? FloodFrames - 1 : 0, pongs);
        Assert.True(throttled.Sum() >= 1, "the frames that waited for the bucket are counted in messages.throttled");
        throttled.AssertDocumented(typeof(Counter<>), "{frame}");

        // Nothing refused or closed: the command after the flood was answered, and the next one is too.
        await client.WriteAsync(Frame(Text, true, """{"type":"resume"}"""u8));
        Assert.Equal("status", await ReadTextTypeAsync(client));
    }

    [Fact]
    public async Task Over_HTTP2_each_frame_takes_a_token_too()
    {
        // A browser speaking HTTP/2 to the bridge opens its WebSocket with an extended CONNECT (RFC 8441), a path of its own.
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(
            ("Bridge:ClientMessagesPerSecond", $"{FramesPerSecond}"), ("Kestrel:EndpointDefaults:Protocols", "Http2"));
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address, http2: true);
        await client.SubscribeAsync("sensor-1");

        var elapsed = Stopwatch.StartNew();
        for (var i = 0; i < FloodFrames - 1; i++)
        {
            await client.Socket.SendAsync(ReadOnlyMemory<byte>.Empty, WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None)
                .AsTask().WaitAsync(BridgeTestClient.Timeout);
        }

        await client.SendAsync("""{"type":"pause"}""");
        using var status = await client.ReceiveAsync();
        Assert.True(status!.RootElement.GetProperty("paused").GetBoolean());
        Assert.True(elapsed.Elapsed >= TimeSpan.FromSeconds(3.0),
            $"the empty fragments and the command were read in {elapsed.ElapsedMilliseconds} ms: {FloodFrames} frames at {FramesPerSecond} a second take over 3 s");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(13)]
    [InlineData(125)]
    [InlineData(100_000)]
    public async Task Each_frame_takes_one_token_however_the_reads_cut_the_frames(int bytesPerRead)
    {
        // Every header form: 7-bit, 16-bit and 64-bit lengths, control frames, empty frames.
        byte[][] frames =
        [
            Frame(Ping, true, []), Frame(Ping, true, new byte[125]), Frame(Text, false, []), Frame(Continuation, false, [0x20]),
            Frame(Continuation, false, new byte[126]), Frame(Continuation, true, new byte[70_000]), Frame(Close, true, [0x03, 0xE8]),
        ];
        var bytes = frames.SelectMany(f => f).ToArray();
        var lastFrameStart = bytes.Length - frames[^1].Length;

        // As many tokens as frames: every read is handed over at once, as read, and nothing is counted.
        using var meters = new TestMeterFactory();
        using var throttled = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.messages.throttled");
        var metrics = new BridgeMetrics(meters);
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        await using (var enough = new ClientFrameThrottle(new ChunkedReads(bytes, bytesPerRead), frames.Length, metrics, time))
        {
            var read = new MemoryStream();
            var buffer = new byte[256 * 1024];
            while (true)
            {
                var pending = enough.ReadAsync(buffer);
                Assert.True(pending.IsCompletedSuccessfully, $"a read waited at byte {read.Length} with a token left for every frame");
                var count = await pending;
                if (count == 0)
                {
                    break;
                }

                read.Write(buffer, 0, count);
            }

            Assert.Equal(bytes, read.ToArray());
            Assert.Equal(0, throttled.Sum());
        }

        // One token fewer: the read that holds the last frame's start waits until the bucket refills (1/7 s).
        await using var oneShort = new ClientFrameThrottle(new ChunkedReads(bytes, bytesPerRead), frames.Length - 1, metrics, time);
        var position = 0;
        var chunk = new byte[256 * 1024];
        while (true)
        {
            var pending = oneShort.ReadAsync(chunk);
            if (!pending.IsCompleted)
            {
                Assert.InRange(lastFrameStart, position, position + Math.Min(bytesPerRead, chunk.Length) - 1);
                time.Advance(TimeSpan.FromSeconds(1));
                Assert.True(await pending.AsTask().WaitAsync(BridgeTestClient.Timeout) > 0);
                break;
            }

            var count = await pending;
            Assert.True(count > 0, "every frame was handed over without waiting with one token fewer than frames");
            position += count;
        }

        Assert.Equal(1, throttled.Sum());
    }

    private static async Task<string?> ReadTextTypeAsync(RawWebSocketClient client)
    {
        var frame = await client.ReadFrameAsync().WaitAsync(BridgeTestClient.Timeout);
        Assert.NotNull(frame);
        Assert.Equal(Text, frame.Value.Opcode);
        using var json = JsonDocument.Parse(frame.Value.Payload);
        return json.RootElement.GetProperty("type").GetString();
    }

    /// <summary>The bytes, handed over at most <paramref name="bytesPerRead"/> at a time, as TCP may cut them.</summary>
    private sealed class ChunkedReads(byte[] bytes, int bytesPerRead) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => base.ReadAsync(buffer[..Math.Min(buffer.Length, bytesPerRead)], cancellationToken);
    }
}
