using System.Diagnostics.Metrics;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;
using WebSocketBridge.Streams;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The bridge's client-side instruments (docs/websocket-bridge.md, "Telemetry" and the limits table), read by name from
/// one in-process bridge's meters, without Kafka (the test feeds the stream registry): clients, frames sent and their
/// delay, frames dropped, connections refused and clients closed by reason (subscription_limit, idle; send_timeout in
/// BridgeLimitsTests' stalled-client test).
/// </summary>
public sealed class BridgeMetricsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public void Frames_dropped_is_described_with_both_limits_that_count_in_it()
    {
        // docs/websocket-bridge.md's limits table counts in .frames.dropped both a full client queue (ClientQueueFrames)
        // and a beat not offered to a client behind while the held beats are over MaxHeldFrameBytes; the description a
        // dashboard shows beside the series named only the first.
        var description = CounterDescription("frames.dropped", "{frame}");
        Assert.Contains("Bridge:ClientQueueFrames", description, StringComparison.Ordinal);
        Assert.Contains("Bridge:MaxHeldFrameBytes", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_address_table_is_reported_from_the_start_before_any_request()
    {
        // docs/websocket-bridge.md's limits table: .addresses.tracked{table=requests,connects,filter_state}. The
        // filter-state limiter was made on the first GET /streams/{id}/filter, so its table was missing from the gauge
        // (a dashboard showed no series) until someone asked for a filter state.
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        using var tracked = Collect<long>(bridge, "addresses.tracked").AssertDocumented(typeof(ObservableGauge<>), "{address}");
        using var overflowed = Collect<long>(bridge, "addresses.overflowed").AssertDocumented(typeof(ObservableCounter<>), "{lookup}");

        string[] tables = ["requests", "connects", "filter_state"];
        Assert.Equal(tables.Order(), tracked.Matching().Select(m => (string)m.Tags["table"]!).Order());
        Assert.Equal(tables.Order(), overflowed.Matching().Select(m => (string)m.Tags["table"]!).Order());
        Assert.All(tracked.Matching(), m => Assert.Equal(0, m.Value));
    }

    [Fact]
    public void Samples_overflowed_is_described_with_every_case_that_counts_in_it()
    {
        // docs/websocket-bridge.md: a stream's pending samples past MaxPendingSamplesPerStream, a chunk that would pass
        // MaxPendingSamples, and that stream's later chunks until its next frame are all counted here.
        var description = CounterDescription("samples.overflowed", "{sample}");
        Assert.Contains("Bridge:MaxPendingSamplesPerStream", description, StringComparison.Ordinal);
        Assert.Contains("Bridge:MaxPendingSamples,", description, StringComparison.Ordinal);
        Assert.Contains("later chunks until its next frame", description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Frames_sent_are_the_data_messages_a_client_got_each_with_its_delay_from_the_chunks_arrival()
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        using var sent = Collect<long>(bridge, "frames.sent").AssertDocumented(typeof(Counter<>), "{frame}");
        using var delay = Collect<double>(bridge, "frame.delay").AssertDocumented(typeof(Histogram<>), "ms");
        await using var reader = await BridgeTestClient.ConnectAsync(bridge.Address);
        await reader.SubscribeAsync("sensor-1");

        // The chunks say they reached the bridge 10 s ago, so every frame's delay is at least that. Another stream's
        // chunks in the same beats arrive now: the client is not subscribed to it, so they do not shorten its delay.
        var arrived = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 10_000;
        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();
        var received = 0;
        for (var seq = 0L; seq < 3; seq++)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            streams.GetOrAdd("sensor-2")!.Append(seq, "kalman", [0.1, 0.2], [0.1, 0.2], now, now, now);
            streams.GetOrAdd("sensor-1")!.Append(seq, "kalman", [0.1, 0.2], [0.1, 0.2], arrived, arrived, arrived);
        }

        // Frames carry seq ranges: the last one sent has seq_last 2.
        while (true)
        {
            using var message = await reader.ReceiveAsync().WaitAsync(Patience);
            Assert.NotNull(message);
            if (message.RootElement.GetProperty("type").GetString() != "data")
            {
                continue;
            }

            received++;
            if (message.RootElement.GetProperty("frames").EnumerateArray().Any(f => f.GetProperty("seq_last").GetInt64() == 2))
            {
                break;
            }
        }

        var done = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // FrameSent adds to the counter, then records the delay: both are read until they have the last frame.
        await Poll.UntilAsync(() => sent.Sum() == received && delay.Matching().Count == received, Patience,
            () => $"frames.sent {sent.Sum()} and frame.delay's {delay.Matching().Count} values to equal the {received} data messages received");
        Assert.All(delay.Matching(), m => Assert.InRange(m.Value, 10_000, done - arrived));
    }

    [Fact]
    public async Task Frames_dropped_from_a_slow_clients_queue_are_the_drops_the_client_is_told_of()
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:ClientQueueFrames", "1"), ("Bridge:SendTimeoutSeconds", "600"), ("Bridge:ListClients", "true"));
        using var dropped = Collect<long>(bridge, "frames.dropped").AssertDocumented(typeof(Counter<>), "{frame}");
        await using var slow = await BridgeTestClient.ConnectAsync(bridge.Address, raw: true);
        await slow.SubscribeAsync("*");

        // The client does not read while large frames come: its socket fills, then its one-frame queue drops.
        await using (var feed = BridgeFeed.Start(bridge, "sensor-1"))
        {
            await Poll.UntilAsync(() => dropped.Sum() > 0, Patience, () => "a frame to be dropped");
        }

        // The client's own drop count, as GET /clients lists it (and every data message carries), is what was counted
        // (the pump may still hand over a last tick after the feed stops: both are read until they agree).
        using var http = bridge.CreateClient();
        var deadline = DateTime.UtcNow + Patience;
        long listed, total;
        do
        {
            await Task.Delay(100);
            total = (long)dropped.Sum();
            using var clients = JsonDocument.Parse(await http.GetStringAsync("/clients").WaitAsync(Patience));
            listed = clients.RootElement.GetProperty("clients")[0].GetProperty("dropped").GetInt64();
        }
        while (listed != total && DateTime.UtcNow < deadline);

        Assert.Equal(listed, total);
        Assert.Equal(total, dropped.Sum());
    }

    [Fact]
    public async Task A_client_closed_for_idling_that_breaks_a_rule_before_it_answers_the_close_is_counted_once()
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:MaxSubscriptionsPerClient", "1"), ("Bridge:IdleTimeoutSeconds", "1"));
        using var closed = Collect<long>(bridge, "clients.closed");
        using var clients = Collect<long>(bridge, "clients");
        await using var client = await BridgeTestClient.ConnectAsync(bridge.Address);

        var (status, _) = await client.ReceiveCloseAsync().WaitAsync(Patience);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, status);

        // The bridge reads on until the client's close: a command over the subscription limit arrives first.
        await client.SendAsync("""{"type":"subscribe","streams":["a","b"]}""");
        await client.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).WaitAsync(Patience);

        await Poll.UntilAsync(() => clients.Sum() == 0, Patience, () => "the client to be gone");
        Assert.Equal(1, closed.Sum(("reason", "idle")));
        Assert.Equal(1, closed.Sum());
    }

    [Fact]
    public async Task Clients_closed_for_the_subscription_limit_and_for_idling_are_counted_by_reason()
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:MaxSubscriptionsPerClient", "1"), ("Bridge:IdleTimeoutSeconds", "1"));
        using var closed = Collect<long>(bridge, "clients.closed").AssertDocumented(typeof(Counter<>), "{client}");
        using var clients = Collect<long>(bridge, "clients").AssertDocumented(typeof(UpDownCounter<>), "{client}");
        await using var normal = await BridgeTestClient.ConnectAsync(bridge.Address);
        await normal.SubscribeAsync("a");
        // The greedy client asks at once: left without a subscription for the idle timeout (1 s: one more connect on a
        // slow machine) it would be closed for idling instead, as the idle one is.
        await using var greedy = await BridgeTestClient.ConnectAsync(bridge.Address);
        await greedy.SendAsync("""{"type":"subscribe","streams":["a","b"]}""");
        await using var idle = await BridgeTestClient.ConnectAsync(bridge.Address);

        await greedy.ReceiveCloseAsync().WaitAsync(Patience);
        await idle.ReceiveCloseAsync().WaitAsync(Patience);

        await Poll.UntilAsync(() => clients.Sum() == 1, Patience, () => "two clients to be gone");
        Assert.Equal(1, closed.Sum(("reason", "subscription_limit")));
        Assert.Equal(1, closed.Sum(("reason", "idle")));
        Assert.Equal(2, closed.Sum());
        await normal.SubscribeAsync("a");
    }

    [Theory]
    [InlineData("origin", HttpStatusCode.Forbidden)]
    [InlineData("address_limit", HttpStatusCode.TooManyRequests)]
    [InlineData("address_rate", HttpStatusCode.TooManyRequests)]
    public async Task A_refused_upgrade_is_counted_in_connections_rejected_by_reason(string reason, HttpStatusCode status)
    {
        // One connection per address; at most one connect a minute when the rate is the limit under test.
        (string, string)[] settings = reason == "address_rate"
            ? [("Bridge:MaxConnectionsPerAddress", "1"), ("Bridge:ConnectsPerAddressPerMinute", "1")]
            : [("Bridge:MaxConnectionsPerAddress", "1")];
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(settings);
        using var rejected = Collect<long>(bridge, "connections.rejected").AssertDocumented(typeof(Counter<>), "{connection}");
        // Collected before the first client connects, so its +1 and -1 are both seen (an up-down counter's sum counts
        // only what happened since the collector started).
        using var clients = Collect<long>(bridge, "clients");
        var first = await BridgeTestClient.ConnectAsync(bridge.Address);
        if (reason == "address_rate")
        {
            await first.DisposeAsync();
            await Poll.UntilAsync(() => clients.Sum() == 0, Patience, () => $"the first client to be gone (clients {clients.Sum()})");
        }

        // The address's count is checked before its connect rate: for address_limit the address holds its one connection,
        // for address_rate it holds none and has used its one connect.
        using var http = bridge.CreateClient();
        using var request = BridgeDocumentedAnswersTests.UpgradeRequest();
        if (reason == "origin")
        {
            request.Headers.Add("Origin", "http://evil.example");
        }

        using var response = await http.SendAsync(request).WaitAsync(Patience);
        Assert.Equal(status, response.StatusCode);

        Assert.Equal(1, rejected.Sum(("reason", reason)));
        Assert.Equal(1, rejected.Sum());
        await first.DisposeAsync();
    }

    /// <summary>The bridge's instruments exist once its metrics are first needed (without Kafka: at the first client), so it is made here.</summary>
    /// <summary>The description a dashboard shows for the bridge counter <paramref name="instrument"/>, its kind and unit checked.</summary>
    private static string CounterDescription(string instrument, string unit)
    {
        using var meters = new SignalPipeline.Tests.FilterKafkaProcessor.TestMeterFactory();
        _ = new BridgeMetrics(meters);
        using var counter = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, $"signalpipeline.bridge.{instrument}");
        return counter.AssertDocumented(typeof(Counter<>), unit).Instrument!.Description!;
    }

    private static MetricCollector<T> Collect<T>(InProcessHost bridge, string instrument)
        where T : struct
    {
        bridge.App.Services.GetRequiredService<BridgeMetrics>();
        return DocumentedMetric.Collect<T>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName, $"signalpipeline.bridge.{instrument}");
    }
}

/// <summary>Large chunks of one stream into a bridge's registry, every 10 ms until disposed.</summary>
internal sealed class BridgeFeed : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task _feeding = Task.CompletedTask;

    public static BridgeFeed Start(InProcessHost bridge, string streamId)
    {
        var feed = new BridgeFeed();
        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();
        feed._feeding = Task.Run(async () =>
        {
            var samples = new double[5000];
            for (var seq = 0L; !feed._stop.IsCancellationRequested; seq++)
            {
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                streams.GetOrAdd(streamId)!.Append(seq, "kalman", samples, samples, now, now, now);
                await Task.Delay(10);
            }
        });
        return feed;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _feeding.WaitAsync(TimeSpan.FromSeconds(30));
        _stop.Dispose();
    }
}
