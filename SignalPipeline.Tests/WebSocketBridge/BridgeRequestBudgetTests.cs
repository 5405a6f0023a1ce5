using System.Diagnostics;
using System.Net;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// Bridge:RequestsPerAddressPerSecond (docs/websocket-bridge.md, Limits): past its budget an address gets 429
/// problem+json naming the setting, with Retry-After, held a second; other addresses are served meanwhile, and the same
/// address is served again a second later. The address is the one after the trusted proxies.
/// </summary>
public sealed class BridgeRequestBudgetTests
{
    [Theory]
    [InlineData("/alive")]
    [InlineData("/streams")]
    public async Task AnAddressPastItsRequestsPerSecondGets429WhileOthersAreServedAndItIsServedAgain(string path)
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(
            ("Bridge:RequestsPerAddressPerSecond", "2"),
            // The test client stands where the Ingress is: its X-Forwarded-For names the client.
            ("ForwardedHeaders:KnownNetworks", "127.0.0.0/8"));
        using var client = bridge.CreateClient();

        // A burst of twice the rate is let through; at once, more than that is refused.
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => GatewayRefusalBudgetTests.GetFromAsync(client, path, "203.0.113.1")));
        var statuses = responses.Select(r => r.StatusCode).ToList();
        Assert.True(statuses.Count(s => s == HttpStatusCode.OK) is >= 4 and < 8, $"saw {string.Join(", ", statuses)}");
        var refused = responses.First(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        await TooManyRequestsProblem.AssertAsync(refused, "Bridge:RequestsPerAddressPerSecond");
        Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
        Assert.Equal(statuses.Count(s => s == HttpStatusCode.TooManyRequests),
            metrics.Sum("signalpipeline.bridge.requests.rejected", ("reason", "rate")));
        Array.ForEach(responses, r => r.Dispose());

        // Another address has its own budget; the refused one is served again within a few seconds.
        using (var other = await GatewayRefusalBudgetTests.GetFromAsync(client, path, "203.0.113.2"))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        var waited = Stopwatch.StartNew();
        while (true)
        {
            using var again = await GatewayRefusalBudgetTests.GetFromAsync(client, path, "203.0.113.1");
            if (again.StatusCode == HttpStatusCode.OK)
            {
                break;
            }

            Assert.Equal(HttpStatusCode.TooManyRequests, again.StatusCode);
            Assert.True(waited.Elapsed < InProcessHost.Timeout, "the address was never served again");
        }
    }

    [Fact]
    public async Task TheRequestBudgetIsOffAtZero()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:RequestsPerAddressPerSecond", "0"));
        using var client = FewConnections(bridge);

        // 100 at once, far past the default budget of 20 a second (40 at once).
        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => client.GetAsync("/alive")));
        Assert.All(responses, response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        Array.ForEach(responses, response => response.Dispose());
        Assert.Equal(0, metrics.Sum("signalpipeline.bridge.requests.rejected"));
    }

    [Fact]
    public async Task TheDefaultBudgetRefusesAFloodFromOneAddress()
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        using var client = FewConnections(bridge);

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => client.GetAsync("/alive")));
        var served = responses.Count(r => r.StatusCode == HttpStatusCode.OK);
        Assert.True(served is >= 40 and < 100, $"{served} of 100 served");
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        Array.ForEach(responses, response => response.Dispose());
    }

    /// <summary>16 connections: more from one untrusted address would meet Bridge:MaxHttpConnectionsPerAddress (64) first.</summary>
    private static HttpClient FewConnections(InProcessHost bridge)
        => new(new SocketsHttpHandler { MaxConnectionsPerServer = 16 }) { BaseAddress = bridge.Address, Timeout = InProcessHost.Timeout };
}
