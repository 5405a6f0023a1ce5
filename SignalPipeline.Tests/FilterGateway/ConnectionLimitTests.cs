using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FilterGateway;
using FilterKafkaProcessor;
using WebSocketBridge;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.WebSocketBridge;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// The open-connection limit of each HTTP service (FilterService:MaxConnections, FilterGateway:MaxConnections,
/// Bridge:MaxHttpConnections, Processor:MaxHttpConnections; docs/filter-api.md, docs/websocket-bridge.md and
/// docs/processor.md, "Limits"): a connection beyond it is
/// closed unanswered and counted in Kestrel's <c>kestrel.rejected_connections</c>; once the held connections close, a
/// new client is served.
/// </summary>
public sealed class ConnectionLimitTests
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";

    private static Task<InProcessHost> StartAsync(string service, int limit) => service switch
    {
        "filter-service" => FilterServiceLimitsTests.StartServiceAsync(("FilterService:MaxConnections", $"{limit}")),
        "filter-gateway" => GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?> { ["FilterGateway:MaxConnections"] = $"{limit}" }),
        "websocket-bridge" => BridgeLimitsTests.StartBridgeAsync(("Bridge:MaxHttpConnections", $"{limit}")),
        _ => StartProcessorHttpAsync(("Processor:MaxHttpConnections", $"{limit}")),
    };

    /// <summary>The processor's HTTP side as its Program.cs sets it up (settings, limits, probes), without the stream thread.</summary>
    internal static Task<InProcessHost> StartProcessorHttpAsync(params (string Key, string Value)[] settings)
        => InProcessHost.StartAsync(settings.ToDictionary(s => s.Key, s => (string?)s.Value),
            builder =>
            {
                builder.AddServiceDefaults();
                builder.Services.AddProcessorOptions(builder.Configuration);
                builder.Services.AddProcessorHttpLimits();
            },
            app => app.MapDefaultEndpoints());

    [Theory]
    [InlineData("filter-service")]
    [InlineData("filter-gateway")]
    [InlineData("websocket-bridge")]
    [InlineData("filter-kafka-processor")]
    public async Task AConnectionBeyondTheLimitIsClosedUnansweredAndCountedAndTheSlotComesBack(string service)
    {
        await using var host = await StartAsync(service, limit: 2);
        var meters = host.App.Services.GetRequiredService<IMeterFactory>();
        using var active = DocumentedMetric.Collect<long>(meters, KestrelMeter, "kestrel.active_connections")
            .AssertDocumented(typeof(UpDownCounter<>), "{connection}");
        using var rejected = DocumentedMetric.Collect<long>(meters, KestrelMeter, "kestrel.rejected_connections")
            .AssertDocumented(typeof(Counter<>), "{connection}");

        // Two idle connections take both slots (Kestrel counts a connection once it has accepted it).
        var held = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var client = new TcpClient();
                held.Add(client);
                await client.ConnectAsync(host.Address.Host, host.Address.Port);
            }

            await Poll.UntilAsync(() => active.Sum() == 2, InProcessHost.Timeout,
                () => $"2 active connections, saw {active.Sum()}");

            Assert.Null(await RequestOnNewConnectionAsync(host.Address));
            await Poll.UntilAsync(() => rejected.Sum() == 1, InProcessHost.Timeout,
                () => $"1 rejected connection, saw {rejected.Sum()}");
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }

        await Poll.UntilAsync(() => active.Sum() == 0, InProcessHost.Timeout,
            () => $"the held connections closed, saw {active.Sum()} active");
        Assert.StartsWith("HTTP/1.1 200", await RequestOnNewConnectionAsync(host.Address));
        Assert.Equal(1, rejected.Sum());
    }

    [Theory]
    [InlineData("filter-gateway")]
    [InlineData("websocket-bridge")]
    public async Task AConnectionPastThePerAddressLimitIsClosedUnansweredWhileOtherAddressesAndTheTrustedProxyAreServed(string service)
    {
        // The host listens on 127.0.0.1; Linux routes all of 127.0.0.0/8 to it, so each source below is another client.
        var first = IPAddress.Parse("127.0.0.2");
        var second = IPAddress.Parse("127.0.0.3");
        var proxy = IPAddress.Parse("127.0.0.4");
        var (setting, meter, instrument, reason) = service == "filter-gateway"
            ? ("FilterGateway:MaxConnectionsPerAddress", GatewayMetrics.MeterName, "signalpipeline.gateway.connections.rejected", "address_limit")
            : ("Bridge:MaxHttpConnectionsPerAddress", BridgeMetrics.MeterName, "signalpipeline.bridge.connections.rejected", "tcp_address_limit");
        await using var host = service == "filter-gateway"
            ? await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?> { [setting] = "2", ["ForwardedHeaders:KnownProxies"] = $"{proxy}" })
            : await BridgeLimitsTests.StartBridgeAsync((setting, "2"), ("ForwardedHeaders:KnownProxies", $"{proxy}"));
        var meters = host.App.Services.GetRequiredService<IMeterFactory>();
        using var active = DocumentedMetric.Collect<long>(meters, KestrelMeter, "kestrel.active_connections");
        using var rejected = DocumentedMetric.Collect<long>(meters, meter, instrument).AssertDocumented(typeof(Counter<>), "{connection}");

        var held = new List<TcpClient>();
        try
        {
            foreach (var source in new[] { first, first, proxy, proxy, proxy })
            {
                var client = new TcpClient(new IPEndPoint(source, 0));
                held.Add(client);
                await client.ConnectAsync(host.Address.Host, host.Address.Port);
            }

            await Poll.UntilAsync(() => active.Sum() == 5, InProcessHost.Timeout, () => $"5 active connections, saw {active.Sum()}");

            // A third from the first address is closed unanswered; another address, and the proxy's fourth, are served.
            Assert.Null(await RequestOnNewConnectionAsync(host.Address, first));
            Assert.Equal(1, rejected.Sum(("reason", reason)));
            Assert.StartsWith("HTTP/1.1 200", await RequestOnNewConnectionAsync(host.Address, second));
            Assert.StartsWith("HTTP/1.1 200", await RequestOnNewConnectionAsync(host.Address, proxy));
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }

        // Once its connections close, the first address is served again.
        await Poll.UntilAsync(() => active.Sum() == 0, InProcessHost.Timeout, () => $"the held connections closed, saw {active.Sum()} active");
        Assert.StartsWith("HTTP/1.1 200", await RequestOnNewConnectionAsync(host.Address, first));
        Assert.Equal(1, rejected.Sum());
    }

    /// <summary>GET /alive on a new connection: the status line, or null when the server closed the connection unanswered.</summary>
    private static async Task<string?> RequestOnNewConnectionAsync(Uri address, IPAddress? source = null)
    {
        using var client = source is null ? new TcpClient() : new TcpClient(new IPEndPoint(source, 0));
        await client.ConnectAsync(address.Host, address.Port);
        var stream = client.GetStream();
        stream.ReadTimeout = (int)InProcessHost.Timeout.TotalMilliseconds;
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /alive HTTP/1.1\r\nHost: {address.Authority}\r\nConnection: close\r\n\r\n"));
            using var reader = new StreamReader(stream, Encoding.ASCII);
            return await reader.ReadLineAsync().WaitAsync(InProcessHost.Timeout);
        }
        catch (IOException)
        {
            // Closed with our request unread: a reset rather than an end of stream.
            return null;
        }
    }
}
