using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// The request-header limit of the services and the gateway (FilterService:MaxRequestHeadersBytes,
/// FilterGateway:MaxRequestHeadersBytes, 64 KiB; docs/filter-api.md, "Limits"): headers past it get Kestrel's 431 and
/// are counted in <c>kestrel.connection.duration{error.type}</c>; the next client is served; and the default still
/// carries the largest filter state (rls order 64) in the binary form through both hops.
/// </summary>
public sealed class RequestHeaderLimitTests
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";

    [Theory]
    [InlineData("filter-service", null, 60_000, 70_000)]
    [InlineData("filter-gateway", null, 60_000, 70_000)]
    [InlineData("filter-service", 20_000, 15_000, 25_000)]
    [InlineData("filter-gateway", 20_000, 15_000, 25_000)]
    public async Task HeadersPastTheLimitGet431AreCountedAndTheNextClientIsServed(string service, int? limit, int under, int over)
    {
        var settings = new Dictionary<string, string?>();
        if (limit is not null)
        {
            settings[service == "filter-service" ? "FilterService:MaxRequestHeadersBytes" : "FilterGateway:MaxRequestHeadersBytes"] = $"{limit}";
        }

        await using var host = service == "filter-service"
            ? await FilterServiceLimitsTests.StartServiceAsync([.. settings.Select(s => (s.Key, s.Value!))])
            : await GatewaySettingsTests.StartGatewayAsync(settings);
        var meters = host.App.Services.GetRequiredService<IMeterFactory>();
        using var connections = DocumentedMetric.Collect<double>(meters, KestrelMeter, "kestrel.connection.duration")
            .AssertDocumented(typeof(Histogram<>), "s");

        Assert.StartsWith("HTTP/1.1 200", await AliveWithHeadersAsync(host.Address, under));
        Assert.StartsWith("HTTP/1.1 431", await AliveWithHeadersAsync(host.Address, over));
        await Poll.UntilAsync(() => connections.Matching(("error.type", "max_request_headers_total_size_exceeded")).Count == 1, InProcessHost.Timeout,
            () => "the refused connection counted with error.type=max_request_headers_total_size_exceeded");
        Assert.StartsWith("HTTP/1.1 200", await AliveWithHeadersAsync(host.Address, 0));
    }

    [Fact]
    public async Task TheLargestStateTravelsInTheBinaryFormThroughTheGatewayAndTheServiceWithTheDefaultLimits()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?> { ["RLS_SERVICE_URL"] = service.Address.ToString() });
        using var client = new HttpClient { BaseAddress = gateway.Address };
        var parameters = new Dictionary<string, double> { ["order"] = 64 };
        double[] first = [0.4, -0.2, 0.9, 0.1, -0.7, 0.3], second = [0.5, 0.2, -0.6, 0.8];

        var (_, state) = await FilterApi.RunBinaryAsync(client, "rls", first, query: "?order=64");
        Assert.InRange(state.Length, 40_000, 64 * 1024);
        var (filtered, _) = await FilterApi.RunBinaryAsync(client, "rls", second, state, "?order=64");

        FilterApi.AssertBitIdentical(FilterApi.Reference("rls", [.. first, .. second], parameters)[first.Length..], filtered);
    }

    /// <summary>GET /alive on a new connection with <paramref name="padding"/> bytes in one extra header: the status line.</summary>
    private static async Task<string?> AliveWithHeadersAsync(Uri address, int padding)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        var stream = client.GetStream();
        stream.ReadTimeout = (int)InProcessHost.Timeout.TotalMilliseconds;
        var pad = padding > 0 ? $"X-Pad: {new string('a', padding)}\r\n" : "";
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /alive HTTP/1.1\r\nHost: {address.Authority}\r\n{pad}Connection: close\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadLineAsync().WaitAsync(InProcessHost.Timeout);
    }
}
