using System.Diagnostics.Metrics;
using System.Net;
using FilterService;
using FilterGateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// <c>signalpipeline.gateway.requests.rejected</c> (docs/filter-api.md, gateway settings and "Dead services") by each
/// reason, read by name from one in-process gateway's meters: it counts exactly the answers the gateway gave itself,
/// and a normal request is served afterwards.
/// </summary>
public sealed class GatewayMetricsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Each_429_of_the_rate_limit_is_counted_with_reason_rate_limit()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
            ["FilterGateway:RateLimitPermitsPerSecond"] = "1",
            ["FilterGateway:RateLimitBurst"] = "1",
        });
        using var rejected = CollectRejected(gateway);
        using var client = gateway.CreateClient();

        var refused = await CountAsync(client, HttpStatusCode.TooManyRequests);
        rejected.AssertDocumented(typeof(Counter<>), "{request}");
        Assert.Equal(refused, rejected.Sum(("reason", "rate_limit")));
        Assert.Equal(refused, rejected.Sum());

        // The bucket refills once a second: the same client is served again.
        await UntilServedAsync(client);
    }

    [Fact]
    public async Task A_body_over_MaxRequestBodyBytes_is_counted_with_reason_body_bytes()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
            ["FilterGateway:MaxRequestBodyBytes"] = "1000",
        });
        using var rejected = CollectRejected(gateway);
        using var client = gateway.CreateClient();

        using (var large = await PostJsonAsync(client, "/kalman/audio/run", RunBody(TestSignal(200, seed: 1))))
        {
            await AssertProblemAsync(large, HttpStatusCode.RequestEntityTooLarge, "FilterGateway:MaxRequestBodyBytes");
        }

        rejected.AssertDocumented(typeof(Counter<>), "{request}");
        Assert.Equal(1, rejected.Sum(("reason", "body_bytes")));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client));
        Assert.Equal(1, rejected.Sum());
    }

    [Fact]
    public async Task Each_503_for_a_dead_service_is_counted_with_reason_no_healthy_destination()
    {
        var port = LoopbackPort.Free();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = $"http://127.0.0.1:{port}/",
            ["FilterGateway:HealthCheckInterval"] = "00:00:00.2",
            ["FilterGateway:HealthCheckTimeout"] = "00:00:01",
        });
        using var rejected = CollectRejected(gateway);
        using var client = gateway.CreateClient();

        // Before the first probe a request meets the closed port (502, not the gateway's own answer); then 503.
        var unavailable = await CountAsync(client, HttpStatusCode.ServiceUnavailable);
        rejected.AssertDocumented(typeof(Counter<>), "{request}");
        Assert.Equal(unavailable, rejected.Sum(("reason", "no_healthy_destination")));
        Assert.Equal(unavailable, rejected.Sum());

        await using var back = await InProcessHost.StartAsync(new Dictionary<string, string?>(),
            builder =>
            {
                builder.AddFilterService();
                builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
            },
            app => app.MapFilterService());
        await UntilServedAsync(client);
    }

    /// <summary>The gateway's <c>requests.rejected</c>, read by name from its own meters (also used by the lane and budget tests).</summary>
    internal static MetricCollector<long> CollectRejected(InProcessHost gateway)
        => DocumentedMetric.Collect<long>(gateway.App.Services.GetRequiredService<IMeterFactory>(), GatewayMetrics.MeterName, "signalpipeline.gateway.requests.rejected");

    private static async Task<HttpStatusCode> StatusAsync(HttpClient client)
    {
        using var response = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.2, 0.9]));
        return response.StatusCode;
    }

    /// <summary>Requests until one gets <paramref name="wanted"/>, then one more; how many got it.</summary>
    private static async Task<int> CountAsync(HttpClient client, HttpStatusCode wanted)
    {
        var statuses = new List<HttpStatusCode>();
        while (!statuses.Contains(wanted))
        {
            Assert.True(statuses.Count < 200, $"the gateway never answered {(int)wanted}");
            statuses.Add(await StatusAsync(client));
        }

        statuses.Add(await StatusAsync(client));
        return statuses.Count(s => s == wanted);
    }

    private static async Task UntilServedAsync(HttpClient client)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (await StatusAsync(client) != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "a normal request was never served again");
            await Task.Delay(100);
        }
    }
}
