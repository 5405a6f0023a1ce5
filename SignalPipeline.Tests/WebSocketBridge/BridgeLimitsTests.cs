using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using FilterKafkaProcessor;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.FilterKafkaProcessor;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;
using WebSocketBridge.Streams;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The bridge's per-client limits (docs/websocket-bridge.md "Limits") on an in-process bridge without Kafka: data is
/// put straight into its stream registry. Each limit gives its documented answer and other clients are still served.
/// </summary>
public sealed class BridgeLimitsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    internal static Task<InProcessHost> StartBridgeAsync(params (string Key, string Value)[] settings)
    {
        var all = settings.ToDictionary(s => s.Key, s => (string?)s.Value);
        all["ConnectionStrings:kafka"] = "127.0.0.1:1";
        return InProcessHost.StartAsync(all,
            builder =>
            {
                builder.AddServiceDefaults();
                builder.AddWebSocketBridgeServices();
                // No broker here: the test feeds the registry itself.
                builder.Services.Remove(builder.Services.Single(d => d.ImplementationType == typeof(SampleOutputConsumer)));
            },
            app =>
            {
                app.UseWebSockets();
                app.MapBridgeEndpoints();
                app.MapDefaultEndpoints();
            });
    }

    private const string NotAnOrigin = "write scheme://host[:port] as browsers send it in the Origin header (no path, query or user), or * for any origin.";

    [Theory]
    [InlineData("Bridge:FrameRate", "0", "FrameRate: Bridge:FrameRate = 0 is out of range [1, 240].")]
    [InlineData("Bridge:MaxConnectionsPerAddress", "-1", "MaxConnectionsPerAddress: Bridge:MaxConnectionsPerAddress = -1 is out of range [1, 1000000].")]
    [InlineData("Bridge:MaxHttpConnections", "0", "MaxHttpConnections: Bridge:MaxHttpConnections = 0 is out of range [1, 1000000].")]
    [InlineData("Bridge:MaxHttpConnectionsPerAddress", "0", "MaxHttpConnectionsPerAddress: Bridge:MaxHttpConnectionsPerAddress = 0 is out of range [1, 1000000].")]
    [InlineData("Bridge:MaxHeldFrameBytes", "1000", "MaxHeldFrameBytes: Bridge:MaxHeldFrameBytes = 1000 is out of range [1048576, 68719476736].")]
    [InlineData("Bridge:ConsumerStallSeconds", "0", "ConsumerStallSeconds: Bridge:ConsumerStallSeconds = 0 is out of range [1, 3600].")]
    [InlineData("Bridge:KeepAliveIntervalSeconds", "0", "KeepAliveIntervalSeconds: Bridge:KeepAliveIntervalSeconds = 0 is out of range [1, 3600].")]
    [InlineData("Bridge:KeepAliveTimeoutSeconds", "3601", "KeepAliveTimeoutSeconds: Bridge:KeepAliveTimeoutSeconds = 3601 is out of range [1, 3600].")]
    [InlineData("Bridge:FilterStateTimeoutMilliseconds", "5", "FilterStateTimeoutMilliseconds: Bridge:FilterStateTimeoutMilliseconds = 5 is out of range [100, 60000].")]
    [InlineData("Bridge:MaxChunkSamples", "2000000", "MaxChunkSamples: Bridge:MaxChunkSamples = 2000000 is over Bridge:MaxPendingSamplesPerStream = 1048576: a stream's pending samples must hold the largest chunk; raise MaxPendingSamplesPerStream.")]
    [InlineData("Bridge:MaxPendingSamplesPerStream", "4194304", "MaxPendingSamplesPerStream: Bridge:MaxPendingSamplesPerStream = 4194304 is over Bridge:MaxPendingSamples = 2097152: all streams together must hold what one stream may; raise MaxPendingSamples.")]
    [InlineData("Bridge:Topic", "", "Topic: Bridge:Topic (OUTPUT_TOPIC) is empty: name the processor's output topic (sample-output by default).")]
    [InlineData("Bridge:AllowedOrigins:0", "example.com", "AllowedOrigins: Bridge:AllowedOrigins:0 = 'example.com' is not an origin: " + NotAnOrigin)]
    [InlineData("Bridge:AllowedOrigins:0", "https://example.com/live", "AllowedOrigins: Bridge:AllowedOrigins:0 = 'https://example.com/live' is not an origin: " + NotAnOrigin)]
    public async Task ABadSettingStopsTheBridgeAtStartNamingItsValueAndRange(string setting, string value, string message)
    {
        var ex = await Record.ExceptionAsync(async () =>
        {
            await using var bridge = await StartBridgeAsync((setting, value));
        });

        // The whole text, as the service's one line at start gives it (ServiceStartFailureTests): before 2026-12-05 the bridge's
        // options were checked by ValidateDataAnnotations, "DataAnnotation validation failed for 'BridgeOptions' members: ...".
        Assert.NotNull(ex);
        Assert.Equal(message, ServiceFailure.Describe(ex));
    }

    [Fact]
    public async Task MoreThanMaxConnectionsPerAddressGet429AndTheSlotComesBackOnClose()
    {
        // The connect rate (2 a second, after a burst of 2) is not what answers: the address holds its 2 connections.
        await using var bridge = await StartBridgeAsync(("Bridge:MaxConnectionsPerAddress", "2"));
        await using var first = await BridgeTestClient.ConnectAsync(bridge.Address);
        await using var second = await BridgeTestClient.ConnectAsync(bridge.Address);

        var refused = await Record.ExceptionAsync(() => BridgeTestClient.ConnectAsync(bridge.Address));
        Assert.IsType<WebSocketException>(refused);
        await AssertUpgradeRefusedAsync(bridge, "Bridge:MaxConnectionsPerAddress");

        await first.DisposeAsync();
        await WaitUntilAsync(async () => (await ClientsAsync(bridge)).GetProperty("count").GetInt32() == 1);

        // The connect bucket is refilled by the rate limiter's timer (every 100 ms), so the first try may still find it
        // empty after the two connects above; a slot that never came back fails every try.
        BridgeTestClient? third = null;
        await WaitUntilAsync(async () => (third = await TryConnectAsync(bridge)) is not null);
        await using (third)
        {
            await third!.SubscribeAsync("sensor-1");
        }
    }

    [Fact]
    public async Task WithDefaultSettingsAnAddressHoldingMaxConnectionsPerAddressIsToldThatLimitHoweverFastItAsks()
    {
        // The defaults: 16 connections per address, and a connect bucket of 16 refilled 2 a second. The 16 connections
        // use the whole burst, so asking again at once must still name the limit the address is at.
        await using var bridge = await StartBridgeAsync();
        var held = new List<BridgeTestClient>();
        try
        {
            for (var i = 0; i < new BridgeOptions().MaxConnectionsPerAddress; i++)
            {
                held.Add(await BridgeTestClient.ConnectAsync(bridge.Address));
            }

            for (var i = 0; i < 4; i++)
            {
                await AssertUpgradeRefusedAsync(bridge, "Bridge:MaxConnectionsPerAddress", retryAfterSeconds: 5);
            }
        }
        finally
        {
            foreach (var client in held)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task WithDefaultSettingsAnAddressThatConnectsAndClosesInALoopGetsTheConnectRatesAnswer()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var bridge = await StartBridgeAsync();

        // One connection open at a time, so the address is never at Bridge:MaxConnectionsPerAddress: after the burst of
        // 16, and 2 more a second, the connect rate refuses.
        var uri = new UriBuilder(bridge.Address) { Scheme = "ws", Path = "/ws" }.Uri;
        HttpStatusCode? refused = null;
        string? retryAfter = null;
        for (var attempt = 0; refused is null; attempt++)
        {
            Assert.True(attempt < 64, "64 connects in a row were all served");
            using var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            try
            {
                await socket.ConnectAsync(uri, CancellationToken.None).WaitAsync(Patience);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).WaitAsync(Patience);
            }
            catch (WebSocketException)
            {
                refused = socket.HttpStatusCode;
                retryAfter = socket.HttpResponseHeaders?.GetValueOrDefault("Retry-After")?.Single();
            }
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, refused);
        Assert.Equal("1", retryAfter); // 60 s / Bridge:ConnectsPerAddressPerMinute (120), rounded up
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.connections.rejected", ("reason", "address_rate")));
        Assert.Equal(0, metrics.Sum("signalpipeline.bridge.connections.rejected", ("reason", "address_limit")));
    }

    [Fact]
    public async Task ConnectingMoreOftenThanConnectsPerAddressPerMinuteGets429AndTheAddressIsServedAgainAfterARefill()
    {
        // A burst of 2 (Bridge:MaxConnectionsPerAddress), then one connect every 10 s (slow enough that a loaded
        // machine does not refill the bucket between the two connects and the refused attempt).
        await using var bridge = await StartBridgeAsync(("Bridge:MaxConnectionsPerAddress", "2"), ("Bridge:ConnectsPerAddressPerMinute", "6"));
        await (await BridgeTestClient.ConnectAsync(bridge.Address)).DisposeAsync();
        await (await BridgeTestClient.ConnectAsync(bridge.Address)).DisposeAsync();

        // No client is connected now (the count is checked first), so only the rate can refuse this one.
        await WaitUntilAsync(async () => (await ClientsAsync(bridge)).GetProperty("count").GetInt32() == 0);
        await AssertUpgradeRefusedAsync(bridge, "Bridge:ConnectsPerAddressPerMinute");

        BridgeTestClient? again = null;
        await WaitUntilAsync(async () =>
        {
            again = await TryConnectAsync(bridge);
            return again is not null;
        });
        await using (again)
        {
            await again!.SubscribeAsync("sensor-1");
        }
    }

    [Fact]
    public void OneAddressConnectingTooOftenDoesNotRefuseAnother()
    {
        using var meters = new TestMeterFactory();
        using var registry = new global::WebSocketBridge.Clients.ClientRegistry(Microsoft.Extensions.Options.Options.Create(
            new BridgeOptions { MaxConnectionsPerAddress = 2, ConnectsPerAddressPerMinute = 1 }), new BridgeMetrics(meters), new HeldFrames(BridgeOptions.DefaultMaxHeldFrameBytes), TimeProvider.System);
        var script = IPAddress.Parse("198.51.100.7");
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.Reserved, registry.TryReserve(script));
        registry.Release(script);
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.Reserved, registry.TryReserve(script));
        registry.Release(script);
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.ConnectingTooOften, registry.TryReserve(script));
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.Reserved, registry.TryReserve(IPAddress.Parse("203.0.113.5")));
    }

    [Fact]
    public void PastMaxTrackedAddressesNewAddressesShareOneConnectBucketAndTheTableIsCounted()
    {
        using var meters = new TestMeterFactory();
        using var tracked = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.addresses.tracked");
        using var overflowed = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.addresses.overflowed");
        var metrics = new BridgeMetrics(meters);
        tracked.AssertDocumented(typeof(ObservableGauge<>), "{address}");
        overflowed.AssertDocumented(typeof(ObservableCounter<>), "{lookup}");
        using var registry = new global::WebSocketBridge.Clients.ClientRegistry(Microsoft.Extensions.Options.Options.Create(
            new BridgeOptions { MaxTrackedAddresses = 1, MaxConnectionsPerAddress = 1, ConnectsPerAddressPerMinute = 1 }), metrics, new HeldFrames(BridgeOptions.DefaultMaxHeldFrameBytes), TimeProvider.System);

        var held = IPAddress.Parse("198.51.100.7");
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.Reserved, registry.TryReserve(held));

        // The table is full: two newcomers share one bucket of one token.
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.Reserved, registry.TryReserve(IPAddress.Parse("203.0.113.5")));
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.ConnectingTooOften, registry.TryReserve(IPAddress.Parse("203.0.113.6")));
        Assert.Equal(2, tracked.Sum(("table", "connects")));
        Assert.Equal(2, overflowed.Sum(("table", "connects")));
    }

    [Fact]
    public void AnIPv4ClientSeenThroughADualStackSocketCountsAgainstItsIPv4AddressAndAnIPv6OneByItsSlash64()
    {
        var plain = IPAddress.Parse("198.51.100.7");
        var mapped = IPAddress.Parse("::ffff:198.51.100.7");
        using var meters = new TestMeterFactory();
        var metrics = new BridgeMetrics(meters);
        using var registry = new global::WebSocketBridge.Clients.ClientRegistry(Microsoft.Extensions.Options.Options.Create(
            new BridgeOptions { MaxConnectionsPerAddress = 1, ConnectsPerAddressPerMinute = 600 }), metrics, new HeldFrames(BridgeOptions.DefaultMaxHeldFrameBytes), TimeProvider.System);
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.Reserved, registry.TryReserve(plain));
        // The address holds its one connection, then has used its one connect token: the mapped form is refused as the
        // same address both times, another is not.
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.TooManyFromAddress, registry.TryReserve(mapped));
        registry.Release(plain);
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.ConnectingTooOften, registry.TryReserve(mapped));
        Assert.Equal(global::WebSocketBridge.Clients.ReserveResult.Reserved, registry.TryReserve(IPAddress.Parse("::ffff:203.0.113.5")));

        // FilterStateRequestsPerAddressPerMinute 6 leaves a burst of one request per address.
        using var rate = new global::WebSocketBridge.FilterState.FilterStateRateLimit(Microsoft.Extensions.Options.Options.Create(
            new global::WebSocketBridge.FilterState.FilterStateOptions { FilterStateRequestsPerAddressPerMinute = 6 }),
            Microsoft.Extensions.Options.Options.Create(new BridgeOptions()), metrics, TimeProvider.System);
        Assert.True(rate.TryTake(mapped));
        Assert.False(rate.TryTake(plain));
        Assert.True(rate.TryTake(IPAddress.Parse("::ffff:203.0.113.5")));

        Assert.Equal(plain, ClientAddress.Of(mapped));
        Assert.Equal(IPAddress.None, ClientAddress.Of(null));

        // IPv6: one /64 is one client, whatever address in it a host picks.
        Assert.Equal(IPAddress.Parse("2001:db8:1:2::"), ClientAddress.Of(IPAddress.Parse("2001:db8:1:2:aaaa:bbbb:cccc:dddd")));
        Assert.True(rate.TryTake(IPAddress.Parse("2001:db8:1:2::1")));
        Assert.False(rate.TryTake(IPAddress.Parse("2001:db8:1:2:ffff::7")));
        Assert.True(rate.TryTake(IPAddress.Parse("2001:db8:1:3::1")));
    }

    [Fact]
    public async Task AStatusListsAtMost16KiBOfStreamIdsAndCountsThemAll()
    {
        await using var bridge = await StartBridgeAsync();
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);

        // 256 ids of 256 characters, mostly '<', which JSON escapes to six bytes: the whole list would be ~390 KB.
        var ids = Enumerable.Range(0, 256).Select(i => $"{i:000}" + new string('<', 253)).ToList();
        foreach (var part in ids.Chunk(14))
        {
            await client.SendAsync("""{"type":"subscribe","streams":[""" + string.Join(",", part.Select(id => $"\"{id}\"")) + "]}");
            await ReadStatusAsync(client);
        }

        await client.SendAsync("""{"type":"pause"}""");
        using var status = await ReadStatusAsync(client);

        var listed = status.RootElement.GetProperty("streams").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(256, status.RootElement.GetProperty("streams_total").GetInt32());
        Assert.InRange(listed.Sum(id => 2 + 3 + 253 * 6), 16 * 1024, 16 * 1024 + 2 + 3 + 253 * 6);
        Assert.Equal(ids.Order(StringComparer.Ordinal).Take(listed.Count), listed);

        await using var normal = await BridgeTestClient.ConnectAsync(bridge.Address);
        await normal.SubscribeAsync("a");
    }

    private static async Task<System.Text.Json.JsonDocument> ReadStatusAsync(BridgeTestClient client)
    {
        while (true)
        {
            var message = await client.ReceiveAsync();
            Assert.NotNull(message);
            if (message.RootElement.GetProperty("type").GetString() == "status")
            {
                return message;
            }

            message.Dispose();
        }
    }

    [Fact]
    public async Task SubscribingPastMaxSubscriptionsPerClientCloses1008AndOthersGoOn()
    {
        await using var bridge = await StartBridgeAsync(("Bridge:MaxSubscriptionsPerClient", "3"));
        await using var greedy = await BridgeTestClient.ConnectAsync(bridge.Address);
        await greedy.SubscribeAsync("a", "b");
        await greedy.SendAsync("""{"type":"subscribe","streams":["c","d"]}""");

        var (status, reason) = await greedy.ReceiveCloseAsync().WaitAsync(Patience);

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, status);
        Assert.Equal("subscription limit: at most 3 streams per client (Bridge:MaxSubscriptionsPerClient)", reason); // the doc's wording
        await using var normal = await BridgeTestClient.ConnectAsync(bridge.Address);
        await normal.SubscribeAsync("a", "b", "c");
    }

    [Fact]
    public async Task AClientWithoutSubscriptionIsClosedAfterIdleTimeoutAndASubscribedOneStays()
    {
        await using var bridge = await StartBridgeAsync(("Bridge:IdleTimeoutSeconds", "1"));
        await using var subscribed = await BridgeTestClient.ConnectAsync(bridge.Address);
        await subscribed.SubscribeAsync("sensor-1");
        await using var idle = await BridgeTestClient.ConnectAsync(bridge.Address);

        var (status, reason) = await idle.ReceiveCloseAsync().WaitAsync(Patience);

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, status);
        Assert.Contains("Bridge:IdleTimeoutSeconds", reason);
        // The subscribed client, connected for longer than the idle client lived, still gets answers.
        await subscribed.SubscribeAsync("sensor-2");
    }

    [Fact]
    public async Task AClientThatOnlyUnsubscribesIsClosedForIdlingOnTime()
    {
        // Idle time runs from the connect or from the unsubscribe that emptied a subscription: one that finds nothing to
        // remove does not restart it, or a script repeating it would hold its connection forever.
        await using var bridge = await StartBridgeAsync(("Bridge:IdleTimeoutSeconds", "1"));
        await using var idle = await BridgeTestClient.ConnectAsync(bridge.Address);
        var close = idle.ReceiveCloseAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!close.IsCompleted && DateTime.UtcNow < deadline)
        {
            await idle.SendAsync("""{"type":"unsubscribe","streams":["*"]}""");
            await Task.WhenAny(close, Task.Delay(200));
        }

        Assert.True(close.IsCompleted, "not closed within 10 s with Bridge:IdleTimeoutSeconds = 1");
        var (status, reason) = await close;
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, status);
        Assert.Contains("Bridge:IdleTimeoutSeconds", reason);
    }

    /// <summary>
    /// A client that never answers the bridge's close frame (here the idle close, 1008) is cut 5 s after it was sent: the
    /// connection ends, its client is gone from <c>clients</c>, and it is counted once, under the close's reason
    /// (docs/websocket-bridge.md, "Protocol"). A raw socket, which answers nothing unless told.
    /// </summary>
    [Fact]
    public async Task AClientThatNeverAnswersTheBridgesCloseIsCutFiveSecondsLaterAndCountedOnceUnderTheClosesReason()
    {
        await using var bridge = await StartBridgeAsync(("Bridge:IdleTimeoutSeconds", "1"));
        var meters = bridge.App.Services.GetRequiredService<IMeterFactory>();
        using var closed = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.clients.closed");
        using var connected = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.clients");
        using var deaf = await RawWebSocketClient.ConnectAsync(bridge.Address);
        Assert.Equal(RawWebSocketClient.Text, (await deaf.ReadFrameAsync())?.Opcode); // hello

        var (status, reason) = await deaf.ReadCloseAsync();
        var sinceClose = Stopwatch.StartNew();
        Assert.Equal(1008, status);
        Assert.Equal("idle: no subscription for 1 s (Bridge:IdleTimeoutSeconds)", reason);

        // Nothing answered: the next read ends with the connection (an end of stream or a reset), not with a frame.
        Assert.True(await deaf.EndsBeforeAnotherFrameAsync(), "a frame came after the close");
        Assert.InRange(sinceClose.Elapsed, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(15));
        await Poll.UntilAsync(() => connected.Sum() == 0, Patience, () => $"clients {connected.Sum()} after the cut, expected 0");
        Assert.Equal(0, (await ClientsAsync(bridge)).GetProperty("count").GetInt32());
        Assert.Equal(1, closed.Sum(("reason", "idle")));
        Assert.Equal(1, closed.Sum());
    }

    /// <summary>
    /// Bridge:MaxReadAheadBytes bounds what Kestrel reads ahead of the bridge on one connection, and
    /// <c>signalpipeline.bridge.read_ahead</c> shows it (docs/websocket-bridge.md, "Limits"): a client sending commands
    /// far faster than Bridge:ClientMessagesPerSecond lets them be read fills it to about the setting and no further (the
    /// rest waits in TCP), and what it held is given back once the client is gone.
    /// </summary>
    [Fact]
    public async Task AClientSendingFasterThanItIsReadHoldsAboutMaxReadAheadBytesShownByTheReadAheadGaugeAndGivenBackWhenItGoes()
    {
        const int readAhead = 96 * 1024;
        await using var bridge = await StartBridgeAsync(("Bridge:MaxReadAheadBytes", $"{readAhead}"), ("Bridge:ClientMessagesPerSecond", "20"));
        using var gauge = DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName,
            "signalpipeline.bridge.read_ahead").AssertDocumented(typeof(ObservableGauge<>), "By");
        Assert.Equal(0, gauge.Observe());

        var flooder = await RawWebSocketClient.ConnectAsync(bridge.Address);
        try
        {
            Assert.Equal(RawWebSocketClient.Text, (await flooder.ReadFrameAsync())?.Opcode); // hello
            // 300 commands of 1 KB (JSON may end in spaces) at once: 20 are read a second, the rest waits in Kestrel's
            // read-ahead and then in TCP.
            var command = RawWebSocketClient.Frame(RawWebSocketClient.Text, fin: true, Encoding.UTF8.GetBytes("""{"type":"pause"}""" + new string(' ', 1000)));
            var flood = Enumerable.Range(0, 300).SelectMany(_ => command).ToArray();
            using var stop = new CancellationTokenSource();
            var sending = flooder.WriteAsync(flood, stop.Token);

            await Poll.UntilAsync(() => gauge.Observe() >= readAhead * 3 / 4, Patience,
                () => $"the read-ahead filling, gauge {gauge.Observe()} bytes");
            // For two seconds of reads (about 40 commands taken), never past the setting and one socket read.
            var most = 0L;
            for (var sample = 0; sample < 20; sample++)
            {
                most = Math.Max(most, gauge.Observe());
                await Task.Delay(100);
            }

            Assert.InRange(most, readAhead * 3 / 4, readAhead + 8 * 1024);

            flooder.Abort();
            await stop.CancelAsync();
            await Task.WhenAny(sending);
        }
        finally
        {
            flooder.Dispose();
        }

        await Poll.UntilAsync(() => gauge.Observe() == 0, Patience, () => $"the read-ahead given back once the client is gone, gauge {gauge.Observe()} bytes");
        Assert.Equal(0, (await ClientsAsync(bridge)).GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task AClientThatStopsReadingIsDisconnectedAfterSendTimeoutAndAReaderKeepsGettingFrames()
    {
        await using var bridge = await StartBridgeAsync(("Bridge:SendTimeoutSeconds", "1"));
        using var closed = DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName, "signalpipeline.bridge.clients.closed");
        using var held = DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName, "signalpipeline.bridge.frames.held");
        using var dropped = DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName, "signalpipeline.bridge.frames.dropped");
        await using var stalled = await BridgeTestClient.ConnectAsync(bridge.Address, raw: true);
        await stalled.SubscribeAsync("*");
        await using var reader = await BridgeTestClient.ConnectAsync(bridge.Address);
        await reader.SubscribeAsync("sensor-1");

        await WhileFeedingAsync(bridge, async () =>
        {
            // The stalled client never reads: its TCP window fills, a send waits a second, and the bridge drops it.
            await WaitUntilAsync(async () => (await ClientsAsync(bridge)).GetProperty("count").GetInt32() == 1);
            // The timed-out send aborts the socket; the receive loop sees that abort at the same moment and, until the
            // bridge marked its own cuts, could count it first as keepalive_timeout (so send_timeout never came).
            await Poll.UntilAsync(() => closed.Sum(("reason", "send_timeout")) == 1, Patience,
                () => $"clients.closed{{reason=send_timeout}} {closed.Sum(("reason", "send_timeout"))}, keepalive_timeout {closed.Sum(("reason", "keepalive_timeout"))}, expected 1 and 0");
            Assert.Equal(0, closed.Sum(("reason", "keepalive_timeout")));
            await ReceiveDataAsync(reader, 5);
        });

        // The stalled client's full queue dropped beats, its send was cut: each beat was still given back once.
        Assert.True(dropped.Sum() > 0, "the stalled client's queue dropped no beat");
        await AssertEveryBeatGivenBackAsync(bridge, reader, held);
    }

    [Fact]
    public async Task PastMaxHeldFrameBytesAClientStalledInASendIsDisconnectedAReaderKeepsGettingFramesAndEveryBeatIsGivenBack()
    {
        // The send timeout is ten minutes away: within the test's patience only the budget can end the stalled client.
        await using var bridge = await StartBridgeAsync(("Bridge:SendTimeoutSeconds", "600"), ("Bridge:MaxHeldFrameBytes", "1048576"));
        var meters = bridge.App.Services.GetRequiredService<IMeterFactory>();
        using var closed = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.clients.closed");
        using var held = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.frames.held")
            .AssertDocumented(typeof(ObservableGauge<>), "By");
        await using var stalled = await BridgeTestClient.ConnectAsync(bridge.Address, raw: true);
        await stalled.SubscribeAsync("*");
        await using var reader = await BridgeTestClient.ConnectAsync(bridge.Address);
        await reader.SubscribeAsync("sensor-1");

        await WhileFeedingAsync(bridge, async () =>
        {
            await Poll.UntilAsync(() => closed.Sum(("reason", "held_frames")) == 1, Patience,
                () => $"clients.closed{{reason=held_frames}} {closed.Sum(("reason", "held_frames"))}, expected 1; held {held.Sum()} bytes");
            Assert.Equal(0, closed.Sum(("reason", "send_timeout")));
            await WaitUntilAsync(async () => (await ClientsAsync(bridge)).GetProperty("count").GetInt32() == 1);
            await ReceiveDataAsync(reader, 5);
        });

        await AssertEveryBeatGivenBackAsync(bridge, reader, held);
    }

    /// <summary>
    /// Runs <paramref name="body"/> while sensor-1 gets a 5,000-sample chunk every 10 ms: 500,000 samples a second, ~16,000
    /// a beat, ~0.25 MB of values and ~0.7 MB of undecimated payload, so a stalled raw client's TCP window fills within
    /// a few beats.
    /// </summary>
    private static async Task WhileFeedingAsync(InProcessHost bridge, Func<Task> body)
    {
        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();
        using var stop = new CancellationTokenSource();
        var feeding = Task.Run(async () =>
        {
            var samples = Enumerable.Range(0, 5000).Select(i => Math.Sin(i * 0.001) / 3).ToArray();
            for (var seq = 0L; !stop.IsCancellationRequested; seq++)
            {
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                streams.GetOrAdd("sensor-1")!.Append(seq, "kalman", samples, samples, now, now, now);
                await Task.Delay(10);
            }
        });

        try
        {
            await body();
        }
        finally
        {
            await stop.CancelAsync();
            await feeding.WaitAsync(Patience);
        }
    }

    private static async Task ReceiveDataAsync(BridgeTestClient reader, int count)
    {
        for (var frames = 0; frames < count;)
        {
            using var message = await reader.ReceiveAsync().WaitAsync(Patience);
            Assert.NotNull(message);
            frames += message.RootElement.GetProperty("type").GetString() == "data" ? 1 : 0;
        }
    }

    /// <summary>Once the last client has left, <c>frames.held</c> is back at 0: every beat a queue or a send took was given back once.</summary>
    private static async Task AssertEveryBeatGivenBackAsync(InProcessHost bridge, BridgeTestClient lastClient, MetricCollector<long> held)
    {
        await lastClient.DisposeAsync();
        await WaitUntilAsync(async () => (await ClientsAsync(bridge)).GetProperty("count").GetInt32() == 0);
        await Poll.UntilAsync(() => held.Sum() == 0, Patience, () => $"frames.held {held.Sum()} bytes after every client left, expected 0");
    }

    [Fact]
    public async Task MessagesPastClientMessagesPerSecondAreReadLaterNeitherRefusedNorClosedAndAnotherClientIsServed()
    {
        await using var bridge = await StartBridgeAsync(("Bridge:ClientMessagesPerSecond", "5"));
        using var throttled = DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName,
            "signalpipeline.bridge.messages.throttled");
        await using var flooder = await BridgeTestClient.ConnectAsync(bridge.Address);

        // 25 commands at once (subscribe and unsubscribe in turn, as a script would): 5 are read at once, the rest as the
        // bucket refills, 5 a second. Each still gets its status, in order.
        for (var i = 0; i < 25; i++)
        {
            await flooder.SendAsync(i % 2 == 0 ? """{"type":"subscribe","streams":["a","b"]}""" : """{"type":"unsubscribe","streams":["a"]}""");
        }

        await using var other = await BridgeTestClient.ConnectAsync(bridge.Address);
        await other.SubscribeAsync("sensor-1");

        for (var statuses = 0; statuses < 25;)
        {
            using var message = await flooder.ReceiveAsync().WaitAsync(Patience);
            Assert.NotNull(message);
            statuses += message.RootElement.GetProperty("type").GetString() == "status" ? 1 : 0;
        }

        Assert.True(throttled.Sum() >= 10, $"messages.throttled {throttled.Sum()}: 20 of the 25 should have waited for the bucket");
        Assert.Equal(WebSocketState.Open, flooder.Socket.State);
        throttled.AssertDocumented(typeof(Counter<>), "{frame}");
    }

    [Fact]
    public async Task ClientsGivesCountsOnlyUnlessListClientsIsOn()
    {
        await using (var bridge = await StartBridgeAsync())
        {
            await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);
            await client.SubscribeAsync("secret-stream");
            var clients = await ClientsAsync(bridge);
            Assert.Equal(1, clients.GetProperty("count").GetInt32());
            Assert.Equal(1, clients.GetProperty("subscribed").GetInt32());
            Assert.False(clients.TryGetProperty("clients", out _));
            Assert.DoesNotContain("secret-stream", clients.GetRawText());
        }

        await using var listing = await StartBridgeAsync(("Bridge:ListClients", "true"));
        await using var listed = await BridgeTestClient.ConnectAsync(listing.Address);
        await listed.SubscribeAsync("secret-stream");
        var details = await ClientsAsync(listing);
        Assert.Equal("secret-stream", details.GetProperty("clients")[0].GetProperty("streams")[0].GetString());
    }

    [Fact]
    public void TheRegistryHoldsAtMostMaxStreams()
    {
        var registry = new LiveStreamRegistry(Microsoft.Extensions.Options.Options.Create(new BridgeOptions { MaxStreams = 2 }), TimeProvider.System);
        Assert.NotNull(registry.GetOrAdd("a"));
        Assert.NotNull(registry.GetOrAdd("b"));
        Assert.Null(registry.GetOrAdd("c"));
        Assert.NotNull(registry.GetOrAdd("a"));
        Assert.Equal(2, registry.Count);
    }

    [Fact]
    public void TheBridgeDecodesEveryChunkSizeTheProcessorAccepts()
    {
        Assert.True(new BridgeOptions().MaxChunkSamples >= new ProcessorOptions().MaxChunkSamples,
            "Bridge:MaxChunkSamples must be at least Processor:MaxChunkSamples, or large chunks never reach the page");
    }

    /// <summary>An upgrade as plain HTTP, where the refusal's body can be read: 429 problem+json naming <paramref name="setting"/>, with Retry-After and the RFC 6585 type.</summary>
    private static async Task AssertUpgradeRefusedAsync(InProcessHost bridge, string setting, int? retryAfterSeconds = null)
    {
        using var http = bridge.CreateClient();
        using var request = BridgeDocumentedAnswersTests.UpgradeRequest();
        using var response = await http.SendAsync(request).WaitAsync(Patience);
        Assert.NotNull(response.Headers.RetryAfter);
        if (retryAfterSeconds is { } seconds)
        {
            Assert.Equal(TimeSpan.FromSeconds(seconds), response.Headers.RetryAfter.Delta);
        }

        await TooManyRequestsProblem.AssertAsync(response, setting);
    }

    private static async Task<BridgeTestClient?> TryConnectAsync(InProcessHost bridge)
    {
        try
        {
            return await BridgeTestClient.ConnectAsync(bridge.Address);
        }
        catch (WebSocketException)
        {
            return null;
        }
    }

    /// <summary>The bridge's <c>GET /clients</c>.</summary>
    internal static async Task<JsonElement> ClientsAsync(InProcessHost bridge)
    {
        using var http = bridge.CreateClient();
        return await http.GetFromJsonAsync<JsonElement>("/clients").WaitAsync(Patience);
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition never came true");
            await Task.Delay(50);
        }
    }
}
