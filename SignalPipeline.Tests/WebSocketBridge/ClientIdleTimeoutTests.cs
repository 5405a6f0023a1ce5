using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using SignalPipeline.Tests.FilterKafkaProcessor;
using WebSocketBridge;
using WebSocketBridge.Clients;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// Bridge:IdleTimeoutSeconds on a <see cref="ClientConnection"/> with the bridge's clock replaced, over a loopback
/// WebSocket: the close comes when the timeout has passed since the unsubscribe that emptied the subscription, not
/// at the next whole second of some per-client tick.
/// </summary>
public sealed class ClientIdleTimeoutTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_client_that_empties_its_subscription_is_closed_when_IdleTimeoutSeconds_have_passed_since()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        using var meters = new TestMeterFactory();
        var (server, client) = await ConnectedPairAsync();
        using var serverSocket = server;
        using var clientSocket = client;
        var connection = new ClientConnection(1, server, raw: false, new BridgeOptions { IdleTimeoutSeconds = 60 }, new BridgeMetrics(meters), time);
        var serving = connection.RunAsync(CancellationToken.None);
        Assert.Equal("hello", await ReceiveTypeAsync(client));

        await SendAsync(client, """{"type":"subscribe","streams":["sensor-1"]}""");
        Assert.Equal("status", await ReceiveTypeAsync(client));
        // Subscribed for 60.5 s: no idle time counts meanwhile.
        time.Advance(TimeSpan.FromSeconds(60.5));
        await SendAsync(client, """{"type":"unsubscribe","streams":["*"]}""");
        Assert.Equal("status", await ReceiveTypeAsync(client));

        // One millisecond before the deadline the client is still served.
        time.Advance(TimeSpan.FromSeconds(60) - TimeSpan.FromMilliseconds(1));
        await SendAsync(client, """{"type":"pause"}""");
        Assert.Equal("status", await ReceiveTypeAsync(client));

        // At 60 s since the unsubscribe (half a second off any whole second since the connect) it is closed.
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(await ReceiveTypeAsync(client));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, client.CloseStatus);
        Assert.Equal("idle: no subscription for 60 s (Bridge:IdleTimeoutSeconds)", client.CloseStatusDescription);

        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).WaitAsync(Patience);
        await serving.WaitAsync(Patience);
    }

    /// <summary>A server and a client WebSocket over a loopback TCP connection.</summary>
    private static async Task<(WebSocket Server, WebSocket Client)> ConnectedPairAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var tcpClient = new TcpClient();
        await tcpClient.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port).WaitAsync(Patience);
        var accepted = await listener.AcceptTcpClientAsync().WaitAsync(Patience);
        return (WebSocket.CreateFromStream(accepted.GetStream(), isServer: true, subProtocol: null, keepAliveInterval: TimeSpan.Zero),
            WebSocket.CreateFromStream(tcpClient.GetStream(), isServer: false, subProtocol: null, keepAliveInterval: TimeSpan.Zero));
    }

    private static Task SendAsync(WebSocket socket, string json)
        => socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).WaitAsync(Patience);

    /// <summary>The next message's <c>type</c>, or null when the server sent its close.</summary>
    private static async Task<string?> ReceiveTypeAsync(WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        var count = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer.AsMemory(count), CancellationToken.None).AsTask().WaitAsync(Patience);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            count += result.Count;
        }
        while (!result.EndOfMessage);

        using var message = JsonDocument.Parse(buffer.AsMemory(0, count));
        return message.RootElement.GetProperty("type").GetString();
    }
}
