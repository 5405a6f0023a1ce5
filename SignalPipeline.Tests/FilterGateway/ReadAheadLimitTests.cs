using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.WebSocketBridge;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// How far Kestrel reads ahead of the app on one connection (FilterService:MaxReadAheadBytes, FilterGateway:MaxReadAheadBytes,
/// 128 KiB; Bridge:MaxReadAheadBytes, 64 KiB; docs/filter-api.md and docs/websocket-bridge.md, "Limits"). Kestrel's own
/// default, 1 MiB a connection whatever the app does, let pipelined requests take the gateway and a service out of memory
/// (docs/benchmarks.md, "Read-ahead floods").
/// </summary>
public sealed class ReadAheadLimitTests
{
    [Theory]
    [InlineData("filter-service")]
    [InlineData("filter-gateway")]
    public async Task AClientPipeliningMegabytesOfRequestsHoldsOnlyTheReadAheadAndTheNextClientIsServed(string service)
    {
        await using var host = service == "filter-service"
            ? await FilterServiceLimitsTests.StartServiceAsync()
            // The probe budget would hold most of these probes (one address); this is about what Kestrel reads ahead.
            : await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?> { ["FilterGateway:ProbesPerAddressPerSecond"] = "0" });
        var pools = Assert.IsType<LargeBlockMemoryPool.Factory>(host.App.Services.GetRequiredService<IMemoryPoolFactory<byte>>()).Pools;
        long InUse() => pools.Sum(pool => pool.InUseBytes);

        // 8 MiB of pipelined GETs at once, and answers never read: Kestrel answers one request at a time, so the rest
        // waits unread in its buffer (up to the read-ahead) and then in TCP. (With 1 MiB, loopback's socket buffers,
        // which grow to a few MB, could take enough answers that the service had read nearly all of it.)
        using var client = new TcpClient { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(host.Address.Host, host.Address.Port);
        var request = Encoding.ASCII.GetBytes($"GET /alive HTTP/1.1\r\nHost: {host.Address.Authority}\r\n\r\n");
        var pipeline = new byte[8 * 1024 * 1024 / request.Length * request.Length];
        for (var i = 0; i < pipeline.Length; i += request.Length)
        {
            request.CopyTo(pipeline, i);
        }

        using var stop = new CancellationTokenSource();
        var send = client.GetStream().WriteAsync(pipeline, stop.Token).AsTask();
        await Poll.UntilAsync(() => InUse() >= 96 * 1024, InProcessHost.Timeout, () => $"the read-ahead filling, saw {InUse()} bytes in use");
        await Task.Delay(TimeSpan.FromSeconds(1));

        // The read-ahead (128 KiB) and Kestrel's answer buffer (64 KiB) in 16 KiB blocks, with a block of slack each.
        Assert.InRange(InUse(), 96 * 1024, 224 * 1024);

        stop.Cancel();
        client.Close();
        await Task.WhenAny(send, Task.Delay(InProcessHost.Timeout));
        using var normal = new HttpClient { BaseAddress = host.Address };
        using var response = await normal.GetAsync("/alive").WaitAsync(InProcessHost.Timeout);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("websocket-bridge", "Bridge:MaxReadAheadBytes")]
    [InlineData("filter-kafka-processor", "Processor:MaxHttpReadAheadBytes")]
    public async Task TheBridgeAndTheProcessorHandTheirSettingToKestrelsTransport(string service, string setting)
    {
        // Both keep Kestrel's own pool (no in-use count to read), so this checks that the setting is the one the
        // socket transport runs with; the mechanism is the one the test above exercises.
        await using var host = service == "websocket-bridge"
            ? await BridgeLimitsTests.StartBridgeAsync((setting, "100000"))
            : await ConnectionLimitTests.StartProcessorHttpAsync((setting, "100000"));
        Assert.Equal(100_000, host.App.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.MaxReadBufferSize);
    }

    [Fact]
    public async Task TheProcessorReadsAheadAtMost64KiBByDefault()
    {
        await using var processor = await ConnectionLimitTests.StartProcessorHttpAsync();
        Assert.Equal(64 * 1024, processor.App.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.MaxReadBufferSize);
    }

    [Theory]
    [InlineData("filter-service", "FilterService")]
    [InlineData("filter-gateway", "FilterGateway")]
    public async Task AReadAheadNotOverTheHeaderLimitStopsTheServiceAtStartNamingBothSettings(string service, string section)
    {
        var settings = new Dictionary<string, string?> { [$"{section}:MaxReadAheadBytes"] = "65536" };
        var start = service == "filter-service"
            ? FilterServiceLimitsTests.StartServiceAsync([.. settings.Select(s => (s.Key, s.Value!))])
            : GatewaySettingsTests.StartGatewayAsync(settings);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () => await (await start).DisposeAsync());
        Assert.Contains($"{section}:MaxReadAheadBytes = 65536 must be over {section}:MaxRequestHeadersBytes = 65536", error.Message);
    }
}
