using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The rows of docs/websocket-bridge.md's close-code and limit tables that had no test: 1003 for a binary message,
/// 1002 for a malformed frame, 1009 over <c>Bridge:MaxClientMessageBytes</c>, 1001 when the bridge stops, 503 over <c>Bridge:MaxConnections</c>,
/// each with its documented metric, and another client still served afterwards. An in-process bridge without Kafka.
/// </summary>
public sealed class BridgeDocumentedAnswersTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_binary_message_closes_1003_and_others_go_on()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        await using var other = await BridgeTestClient.ConnectAsync(bridge.Address);
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);

        await client.Socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None).WaitAsync(Patience);

        var (status, reason) = await client.ReceiveCloseAsync().WaitAsync(Patience);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, status);
        Assert.StartsWith("binary messages are not accepted", reason);
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.clients.closed", ("reason", "protocol")));
        await other.SubscribeAsync("sensor-1");
    }

    [Fact]
    public async Task A_text_message_that_is_not_UTF8_closes_1007_is_counted_and_others_go_on()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        await using var other = await BridgeTestClient.ConnectAsync(bridge.Address);
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);

        // 0xC3 starts a two-byte character that 0x28 does not continue: .NET's WebSocket refuses it before the bridge reads it.
        await client.Socket.SendAsync(new byte[] { 0x7B, 0xC3, 0x28, 0x7D }, WebSocketMessageType.Text, true, CancellationToken.None).WaitAsync(Patience);

        var (status, _) = await client.ReceiveCloseAsync().WaitAsync(Patience);
        Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, status);
        var counted = Stopwatch.StartNew();
        while (metrics.Sum("signalpipeline.bridge.clients.closed", ("reason", "protocol")) == 0 && counted.Elapsed < Patience)
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.clients.closed", ("reason", "protocol")));
        await other.SubscribeAsync("sensor-1");
    }

    [Theory]
    [InlineData("RSV1 set")]
    [InlineData("unmasked")]
    public async Task A_malformed_frame_closes_1002_with_no_reason_is_counted_and_others_go_on(string fault)
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        await using var other = await BridgeTestClient.ConnectAsync(bridge.Address);
        using var client = await RawWebSocketClient.ConnectAsync(bridge.Address);
        Assert.Equal(RawWebSocketClient.Text, (await client.ReadFrameAsync())?.Opcode); // hello

        // A valid command in a frame no client may send: RSV1 set with no extension negotiated (the bridge accepts
        // none), or no mask (RFC 6455 5.1: a server closes on an unmasked client frame). .NET's WebSocket refuses the
        // header before the bridge reads the message, and sends the close itself.
        var command = """{"type":"pause"}"""u8;
        var frame = fault == "unmasked"
            ? [(byte)(0x80 | RawWebSocketClient.Text), (byte)command.Length, .. command]
            : RawWebSocketClient.Frame(RawWebSocketClient.Text, fin: true, command);
        frame[0] |= fault == "RSV1 set" ? (byte)0x40 : (byte)0;
        await client.WriteAsync(frame);

        var close = await client.ReadFrameAsync() ?? throw new Xunit.Sdk.XunitException("the connection ended without a close frame");
        Assert.Equal(RawWebSocketClient.Close, close.Opcode);
        Assert.Equal((ushort)WebSocketCloseStatus.ProtocolError, BinaryPrimitives.ReadUInt16BigEndian(close.Payload));
        Assert.Equal(2, close.Payload.Length); // the status alone: no reason
        await Poll.UntilAsync(() => metrics.Sum("signalpipeline.bridge.clients.closed", ("reason", "protocol")) == 1, Patience,
            () => "the client counted as closed for protocol");
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.clients.closed"));
        await other.SubscribeAsync("sensor-1");
    }

    [Fact]
    public async Task A_message_over_MaxClientMessageBytes_closes_1009_and_others_go_on()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:MaxClientMessageBytes", "256"));
        await using var other = await BridgeTestClient.ConnectAsync(bridge.Address);
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);

        // A valid command, only too long (about 600 bytes).
        await client.SendAsync($$"""{"type":"subscribe","streams":[{{string.Join(",", Enumerable.Range(0, 100).Select(i => $"\"s{i}\""))}}]}""");

        var (status, reason) = await client.ReceiveCloseAsync().WaitAsync(Patience);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
        Assert.StartsWith("message over 256 bytes", reason);
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.clients.closed", ("reason", "protocol")));
        await other.SubscribeAsync("sensor-1");
    }

    [Fact]
    public async Task Stopping_the_bridge_closes_its_clients_1001()
    {
        var bridge = await BridgeLimitsTests.StartBridgeAsync();
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);
        await client.SubscribeAsync("sensor-1");

        var stopping = bridge.DisposeAsync().AsTask();
        var (status, reason) = await client.ReceiveCloseAsync().WaitAsync(Patience);
        await stopping.WaitAsync(Patience);

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status);
        Assert.StartsWith("the bridge is shutting down", reason);
    }

    [Fact]
    public async Task Over_MaxConnections_an_upgrade_gets_503_naming_the_setting_and_the_slot_comes_back_on_close()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:MaxConnections", "2"), ("Bridge:MaxConnectionsPerAddress", "100"));
        var first = await BridgeTestClient.ConnectAsync(bridge.Address);
        await using var second = await BridgeTestClient.ConnectAsync(bridge.Address);

        using (var http = bridge.CreateClient())
        {
            using var response = await http.SendAsync(UpgradeRequest()).WaitAsync(Patience);
            Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
            await FilterService.FilterApi.AssertProblemAsync(response, HttpStatusCode.ServiceUnavailable, "Bridge:MaxConnections");
        }

        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.connections.rejected", ("reason", "limit")));
        await first.DisposeAsync();
        await Poll.UntilAsync(() => metrics.Sum("signalpipeline.bridge.clients") == 1, Patience, () => "the first client's slot to be given back");
        await using var third = await BridgeTestClient.ConnectAsync(bridge.Address);
        await third.SubscribeAsync("sensor-1");
    }

    [Theory]
    [InlineData("", false)]
    [InlineData("?raw=1", true)]
    [InlineData("?raw=true", true)]
    [InlineData("?raw=0", false)]
    [InlineData("?raw=false", false)]
    public async Task The_ws_query_raw_takes_1_true_0_or_false(string query, bool raw)
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address, query: query);

        Assert.Equal(raw, client.HelloRaw);
    }

    [Theory]
    [InlineData("?raw=yes", "raw = 'yes' is not 1, true, 0 or false")]
    [InlineData("?raw=", "raw = '' is not 1, true, 0 or false")]
    [InlineData("?raw", "raw = '' is not 1, true, 0 or false")]
    [InlineData("?raw=TRUE", "raw = 'TRUE' is not 1, true, 0 or false")]
    [InlineData("?raw=1&raw=0", "raw is given 2 times")]
    [InlineData("?row=1", "Unknown query parameter 'row': /ws takes only raw")]
    [InlineData("?RAW=1", "Unknown query parameter 'RAW': /ws takes only raw")]
    public async Task Any_other_ws_query_gets_400_naming_raw_before_the_upgrade_and_takes_no_connect_token(string query, string detail)
    {
        // One connect token: a refused query that took it would leave the next upgrade refused for the connect rate.
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:MaxConnectionsPerAddress", "1"), ("Bridge:ConnectsPerAddressPerMinute", "1"));

        using (var http = bridge.CreateClient())
        {
            using var response = await http.SendAsync(UpgradeRequest(query)).WaitAsync(Patience);
            await FilterService.FilterApi.AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
        }

        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);
        await client.SubscribeAsync("sensor-1");
    }

    /// <summary>A WebSocket upgrade as plain HTTP, so a refusal's problem body can be read.</summary>
    internal static HttpRequestMessage UpgradeRequest(string query = "")
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/ws" + query);
        request.Headers.Add("Connection", "Upgrade");
        request.Headers.Add("Upgrade", "websocket");
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(new byte[16]));
        return request;
    }
}
