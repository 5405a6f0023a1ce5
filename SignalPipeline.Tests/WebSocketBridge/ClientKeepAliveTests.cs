using System.Diagnostics.Metrics;
using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// Bridge:KeepAliveIntervalSeconds / KeepAliveTimeoutSeconds on the in-process bridge: a client that answers no ping
/// (its network gone, or a client that never reads) is disconnected and gives its slot and subscriptions back; a client
/// that reads, paused and sent nothing, answers the pings by itself and stays. One second each, so this is cheap.
/// </summary>
public sealed class ClientKeepAliveTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static Task<InProcessHost> StartBridgeAsync()
        => BridgeLimitsTests.StartBridgeAsync(
            ("Bridge:KeepAliveIntervalSeconds", "1"), ("Bridge:KeepAliveTimeoutSeconds", "1"),
            ("Bridge:MaxConnectionsPerAddress", "2"), ("Bridge:ConnectsPerAddressPerMinute", "600000"));

    [Fact]
    public async Task A_client_that_answers_no_ping_is_disconnected_counted_as_keepalive_timeout_and_its_slot_is_free_again()
    {
        await using var bridge = await StartBridgeAsync();
        using var closed = DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName, "signalpipeline.bridge.clients.closed");

        // Subscribed, then silent: it reads what the bridge sends but answers nothing, as a client whose network vanished.
        using var silent = await RawWebSocketClient.ConnectAsync(bridge.Address);
        await silent.WriteAsync(RawWebSocketClient.Frame(RawWebSocketClient.Text, fin: true, """{"type":"subscribe","streams":["sensor-1"]}"""u8));
        // And one that leaves without a close frame (its TCP connection ended): gone, but not for the keep-alive.
        using var leaver = await RawWebSocketClient.ConnectAsync(bridge.Address);
        await BridgeLimitsTests.WaitUntilAsync(async () => (await BridgeLimitsTests.ClientsAsync(bridge)).GetProperty("subscribed").GetInt32() == 1);
        leaver.Dispose();

        var (pings, ended) = await ReadUntilTheConnectionEndsAsync(silent);
        Assert.True(ended, "the bridge did not end the silent client's connection");
        Assert.True(pings > 0, "the bridge sent no ping before ending the connection");

        await Poll.UntilAsync(() => closed.Sum(("reason", "keepalive_timeout")) == 1, Patience,
            () => $"clients.closed{{reason=keepalive_timeout}} {closed.Sum(("reason", "keepalive_timeout"))}, expected 1");
        await BridgeLimitsTests.WaitUntilAsync(async () => (await BridgeLimitsTests.ClientsAsync(bridge)).GetProperty("count").GetInt32() == 0);
        Assert.Equal(1, closed.Sum()); // the leaver went by itself: not counted

        // Both of the address's Bridge:MaxConnectionsPerAddress slots are free again.
        await using var first = await BridgeTestClient.ConnectAsync(bridge.Address);
        await using var second = await BridgeTestClient.ConnectAsync(bridge.Address);
        await first.SubscribeAsync("sensor-1");
        await second.SubscribeAsync("sensor-1");
    }

    [Fact]
    public async Task A_paused_client_that_reads_answers_the_pings_by_itself_and_stays_connected()
    {
        await using var bridge = await StartBridgeAsync();
        using var closed = DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName, "signalpipeline.bridge.clients.closed");
        await using var paused = await BridgeTestClient.ConnectAsync(bridge.Address);
        await paused.SubscribeAsync("sensor-1");
        await paused.SendAsync("""{"type":"pause"}""");
        using (var status = await paused.ReceiveAsync())
        {
            Assert.True(status!.RootElement.GetProperty("paused").GetBoolean());
        }

        // The paused client is sent nothing; its ClientWebSocket answers pings only while a receive is pending.
        var next = paused.ReceiveAsync();

        // A raw client answering pings as a browser does counts the intervals: after three pings to it, the paused client
        // has been pinged as often. Then it stops answering and is cut: the keep-alive is at work in this bridge.
        using var watcher = await RawWebSocketClient.ConnectAsync(bridge.Address);
        await watcher.WriteAsync(RawWebSocketClient.Frame(RawWebSocketClient.Text, fin: true, """{"type":"subscribe","streams":["sensor-2"]}"""u8));
        for (var answered = 0; answered < 3;)
        {
            var frame = await watcher.ReadFrameAsync();
            Assert.NotNull(frame);
            if (frame.Value.Opcode == RawWebSocketClient.Ping)
            {
                await watcher.WriteAsync(RawWebSocketClient.Frame(RawWebSocketClient.Pong, fin: true, frame.Value.Payload));
                answered++;
            }
        }

        var (_, ended) = await ReadUntilTheConnectionEndsAsync(watcher);
        Assert.True(ended, "the bridge did not end the client that stopped answering pings");
        await Poll.UntilAsync(() => closed.Sum(("reason", "keepalive_timeout")) == 1, Patience,
            () => $"clients.closed{{reason=keepalive_timeout}} {closed.Sum(("reason", "keepalive_timeout"))}, expected 1");

        // The paused client is still served: its pending receive gets the answer to resume.
        Assert.False(next.IsCompleted, "the paused client's receive ended (the bridge closed it?)");
        Assert.Equal(WebSocketState.Open, paused.Socket.State);
        await paused.SendAsync("""{"type":"resume"}""");
        using (var status = await next)
        {
            Assert.Equal("status", status!.RootElement.GetProperty("type").GetString());
            Assert.False(status.RootElement.GetProperty("paused").GetBoolean());
        }

        Assert.Equal(1, closed.Sum());
        Assert.Equal(1, (await BridgeLimitsTests.ClientsAsync(bridge)).GetProperty("count").GetInt32());
    }

    /// <summary>Reads (answering nothing) until the bridge ends the connection: how many pings came, and whether it ended.</summary>
    private static async Task<(int Pings, bool Ended)> ReadUntilTheConnectionEndsAsync(RawWebSocketClient client)
    {
        using var patience = new CancellationTokenSource(Patience);
        var pings = 0;
        try
        {
            while (await client.ReadFrameAsync(patience.Token) is { } frame)
            {
                pings += frame.Opcode == RawWebSocketClient.Ping ? 1 : 0;
            }
        }
        catch (IOException)
        {
            // The aborted socket may end the connection with a reset rather than a FIN.
        }
        catch (OperationCanceledException)
        {
            return (pings, false);
        }

        return (pings, true);
    }
}
