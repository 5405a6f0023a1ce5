using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using FilterGateway;
using FilterService;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// The gateway facing trouble: a dead algorithm service gets a fast 503 with Retry-After and traffic resumes by itself;
/// X-Forwarded-For is believed only from configured proxies, so the per-client rate limit cannot be dodged.
/// </summary>
public sealed class GatewayEdgeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static Task<InProcessHost> StartServiceAsync(int port = 0, Dictionary<string, string?>? settings = null) => InProcessHost.StartAsync(
        settings ?? [],
        builder =>
        {
            builder.AddFilterService();
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        },
        app => app.MapFilterService());

    [Fact]
    public async Task ADeadServiceGets503WithRetryAfterAndTrafficResumesWhenItIsBack()
    {
        var service = await StartServiceAsync();
        var port = service.Address.Port;
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
            ["FilterGateway:HealthCheckInterval"] = "00:00:00.2",
            ["FilterGateway:HealthCheckTimeout"] = "00:00:01",
        });
        using var client = gateway.CreateClient();
        using (var alive = await PostUntilAsync(client, HttpStatusCode.OK))
        {
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }

        await service.DisposeAsync();
        // Until the next probe a request may still meet the closed port (502); from then on the gateway answers itself.
        using var unavailable = await PostUntilAsync(client, HttpStatusCode.ServiceUnavailable);
        // The probe interval rounded up to whole seconds (0.2 s: 1).
        Assert.Equal(TimeSpan.FromSeconds(1), unavailable.Headers.RetryAfter?.Delta);
        await FilterApi.AssertProblemAsync(unavailable, HttpStatusCode.ServiceUnavailable,
            "No healthy instance of the 'kalman' service: its health probe failed (checked every 0.2 s, FilterGateway:HealthCheckInterval). Retry later.");
        // Other algorithms' routes are not affected by kalman's death (they go to their own services).
        // The gateway itself stays ready and alive (docs/operations.md: its /health is never unhealthy; it answers the dead
        // algorithm 503 at once instead of leaving the pod's other routes unserved).
        foreach (var probe in new[] { "/health", "/alive" })
        {
            using var health = await client.GetAsync(probe).WaitAsync(Patience);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("Healthy", await health.Content.ReadAsStringAsync());
        }

        await using var back = await StartServiceAsync(port);
        using var recovered = await PostUntilAsync(client, HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
    }

    private static async Task<HttpResponseMessage> PostUntilAsync(HttpClient client, HttpStatusCode wanted)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var response = await FilterApi.PostJsonAsync(client, "/kalman/audio/run", FilterApi.RunBody([0.2, 0.9]));
            if (response.StatusCode == wanted)
            {
                return response;
            }

            response.Dispose();
            Assert.True(DateTime.UtcNow < deadline, $"the gateway never answered {(int)wanted}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task AClientSendingItsBodySlowlyThroughTheGatewayGets408NamingTheGatewaysBodyTimeoutNotA502()
    {
        // The client keeps above Kestrel's 240 bytes/s (400 here), so only a deadline stops it. The service's own
        // (FilterService:RequestTimeout) would answer 408 while the gateway is still forwarding the body: the gateway
        // then failed to send the rest and answered 502 (before 2026-12-05), the client's fault reported as the service's.
        await using var service = await StartServiceAsync(settings: new() { ["FilterService:RequestTimeout"] = "00:00:03" });
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
            ["FilterGateway:RequestBodyTimeout"] = "00:00:01",
        });
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);

        using var tcp = await FilterServiceLimitsTests.StartSlowUploadAsync(gateway.Address, 100_000, """{"signal":[0.1,""");
        using var stop = new CancellationTokenSource();
        var trickle = FilterServiceLimitsTests.TrickleAsync(tcp, "0.1,0.1,", TimeSpan.FromMilliseconds(20), stop.Token);

        var answer = await FilterServiceLimitsTests.ReadAnswerAsync(tcp);
        await stop.CancelAsync();
        await Task.WhenAny(trickle);
        Assert.True(answer.Status.StartsWith("HTTP/1.1 408 ", StringComparison.Ordinal), answer.Status + "\n" + answer.Body);
        Assert.Contains("The request body did not arrive within 1 s (FilterGateway:RequestBodyTimeout): 100000 bytes declared.", answer.Body, StringComparison.Ordinal);
        Assert.Equal(1, rejected.Sum(("reason", "body_timeout")));

        using var client = gateway.CreateClient();
        using var served = await FilterApi.PostJsonAsync(client, "/kalman/audio/run", FilterApi.RunBody([0.2, 0.9]));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task AClientStallingInItsBodyThroughTheGatewayGets408NamingKestrelsMinimumDataRate()
    {
        // Under Kestrel's 240 bytes/s: after its 5 s grace YARP answered a bare 408 (before 2026-12-05); now a problem
        // body says why.
        await using var service = await StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
        });

        using var tcp = await FilterServiceLimitsTests.StartSlowUploadAsync(gateway.Address, 1000, """{"signal":[0.1,""");

        var answer = await FilterServiceLimitsTests.ReadAnswerAsync(tcp);
        Assert.True(answer.Status.StartsWith("HTTP/1.1 408 ", StringComparison.Ordinal), answer.Status + "\n" + answer.Body);
        Assert.Contains("The request body arrived too slowly: ", answer.Body, StringComparison.Ordinal);
        Assert.Contains("MinRequestBodyDataRate", answer.Body, StringComparison.Ordinal);

        using var client = gateway.CreateClient();
        using var served = await FilterApi.PostJsonAsync(client, "/kalman/audio/run", FilterApi.RunBody([0.2, 0.9]));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task AClientSendingALargeBodySlowlyThroughTheGatewayGets408NamingTheGatewaysMinimumRateNotA502()
    {
        // Default settings on both sides. A large body must keep to 1 MiB/s at the service once it has the large slot
        // (after 4 s) and at the gateway while it is forwarded (after 2 s): the gateway answers first, naming its setting;
        // the service answering in the middle of the body would reach the client as 502. Before 2026-12-05 a 1 KiB/s body
        // held the service's only large slot until FilterGateway:RequestBodyTimeout (25 s).
        await using var service = await StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
            // The next large request comes from the same address: not refused while the gateway finishes the first.
            ["FilterGateway:MaxLargeRequestsPerAddress"] = "2",
        });
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);

        using var tcp = await FilterServiceLimitsTests.StartSlowUploadAsync(gateway.Address, 4 * 1024 * 1024, """{"signal":[0.1""");
        using var stop = new CancellationTokenSource();
        var trickle = FilterServiceLimitsTests.TrickleAsync(tcp, string.Concat(Enumerable.Repeat(",0.1", 25)), TimeSpan.FromMilliseconds(100), stop.Token);

        var answer = await FilterServiceLimitsTests.ReadAnswerAsync(tcp);
        await stop.CancelAsync();
        await Task.WhenAny(trickle);
        Assert.True(answer.Status.StartsWith("HTTP/1.1 408 ", StringComparison.Ordinal), answer.Status + "\n" + answer.Body);
        Assert.Contains("The request body arrived at less than 1048576 bytes/s, the least for a body over 2097152 bytes "
            + "(FilterGateway:LargeBodyMinBytesPerSecond, after 2 s, FilterGateway:LargeBodyMinRateGracePeriod): 4194304 bytes declared.",
            answer.Body, StringComparison.Ordinal);
        Assert.Equal(1, rejected.Sum(("reason", "body_timeout")));

        // A large body sent at once passes both minimum rates.
        using var client = gateway.CreateClient();
        var signal = FilterApi.TestSignal(200_000, seed: 8);
        var (filtered, _) = await FilterApi.RunAsync(client, "kalman", signal);
        FilterApi.AssertBitIdentical(FilterApi.Reference("kalman", signal), filtered);
    }

    [Theory]
    [InlineData(null, null, false)]
    [InlineData(null, "10.9.9.9", false)]
    [InlineData("127.0.0.0/8", null, true)]
    [InlineData(null, "127.0.0.1", true)]
    public async Task XForwardedForIsBelievedOnlyFromConfiguredProxies(string? networks, string? proxies, bool believed)
    {
        await using var backend = await StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:RateLimitPermitsPerSecond"] = "1",
            ["FilterGateway:RateLimitBurst"] = "1",
            // What Aspire puts in every project's environment: alone it would make ASP.NET trust any sender.
            ["ForwardedHeaders_Enabled"] = "true",
            ["ForwardedHeaders:KnownNetworks"] = networks,
            ["ForwardedHeaders:KnownProxies"] = proxies,
        });
        using var client = gateway.CreateClient();

        // Ten requests at once claiming ten different client addresses: with one token per second per address, only
        // believed addresses are all served (sent together, so a slow machine does not refill the bucket in between).
        var statuses = await Task.WhenAll(Enumerable.Range(1, 10).Select(i => PostRunAsAsync(client, $"203.0.113.{i}")));

        if (believed)
        {
            Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
        }
        else
        {
            Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        }
    }

    [Fact]
    public async Task AnIPv4ClientNamedAsIPv4MappedIPv6SharesItsRateLimit()
    {
        await using var backend = await StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:RateLimitPermitsPerSecond"] = "1",
            ["FilterGateway:RateLimitBurst"] = "1",
            ["ForwardedHeaders:KnownNetworks"] = "127.0.0.0/8",
        });
        using var client = gateway.CreateClient();

        // One client, as a dual-stack proxy and an IPv4 one would name it: one token between them.
        var statuses = await Task.WhenAll(new[] { "203.0.113.9", "::ffff:203.0.113.9" }.Select(address => PostRunAsAsync(client, address)));

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses.Order());
    }

    [Fact]
    public async Task Every_address_table_is_reported_from_the_start_before_any_request()
    {
        // docs/filter-api.md: .addresses.tracked{table=rate_limit,refusals,probes}. The tables were made on the first
        // request that used them, so a dashboard showed no series for them until then.
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = "http://127.0.0.1:1",
        });
        var meters = gateway.App.Services.GetRequiredService<IMeterFactory>();
        using var tracked = DocumentedMetric.Collect<long>(meters, GatewayMetrics.MeterName, "signalpipeline.gateway.addresses.tracked");
        using var overflowed = DocumentedMetric.Collect<long>(meters, GatewayMetrics.MeterName, "signalpipeline.gateway.addresses.overflowed");

        string[] tables = ["probes", "rate_limit", "refusals"];
        Assert.Equal(tables, tracked.Matching().Select(m => (string)m.Tags["table"]!).Order());
        Assert.Equal(tables, overflowed.Matching().Select(m => (string)m.Tags["table"]!).Order());
        Assert.All(tracked.Matching(), m => Assert.Equal(0, m.Value));
    }

    [Fact]
    public async Task PastMaxTrackedAddressesNewClientAddressesShareOneBudgetAndTheTablesAreCounted()
    {
        await using var backend = await StartServiceAsync();
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:RateLimitPermitsPerSecond"] = "1",
            ["FilterGateway:RateLimitBurst"] = "1",
            ["FilterGateway:MaxTrackedAddresses"] = "2",
            ["ForwardedHeaders:KnownNetworks"] = "127.0.0.0/8",
        });
        using var client = gateway.CreateClient();
        var meters = gateway.App.Services.GetRequiredService<IMeterFactory>();
        using var tracked = DocumentedMetric.Collect<long>(meters, GatewayMetrics.MeterName, "signalpipeline.gateway.addresses.tracked")
            .AssertDocumented(typeof(ObservableGauge<>), "{address}");
        using var overflowed = DocumentedMetric.Collect<long>(meters, GatewayMetrics.MeterName, "signalpipeline.gateway.addresses.overflowed")
            .AssertDocumented(typeof(ObservableCounter<>), "{lookup}");

        // Two addresses fill the tables, each with its own token.
        Assert.Equal(HttpStatusCode.OK, await PostRunAsAsync(client, "203.0.113.1"));
        Assert.Equal(HttpStatusCode.OK, await PostRunAsAsync(client, "203.0.113.2"));
        Assert.Equal(0, overflowed.Sum(("table", "rate_limit")));

        // Two more, sent together, share the overflow bucket's one token.
        var statuses = await Task.WhenAll(PostRunAsAsync(client, "203.0.113.3"), PostRunAsAsync(client, "203.0.113.4"));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses.Order());

        // Each table holds its two addresses and the shared limiter; every lookup of a newcomer was counted.
        Assert.Equal(3, tracked.Sum(("table", "rate_limit")));
        Assert.Equal(3, tracked.Sum(("table", "refusals")));
        Assert.True(overflowed.Sum(("table", "rate_limit")) >= 2);
        Assert.True(overflowed.Sum(("table", "refusals")) >= 2);

        // The probes' table fills the same way: /alive from the four addresses, two tracked, the others shared.
        Assert.Equal(0, tracked.Sum(("table", "probes")));
        foreach (var address in new[] { "203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4" })
        {
            using var probe = new HttpRequestMessage(HttpMethod.Get, "/alive");
            probe.Headers.Add("X-Forwarded-For", address);
            using var response = await client.SendAsync(probe).WaitAsync(FilterApi.CallTimeout);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(3, tracked.Sum(("table", "probes")));
        Assert.True(overflowed.Sum(("table", "probes")) >= 2);
    }

    /// <summary>A kalman run claiming to come from <paramref name="address"/> (X-Forwarded-For); its status.</summary>
    private static async Task<HttpStatusCode> PostRunAsAsync(HttpClient client, string address)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/run") { Content = new StringContent(FilterApi.RunBody([0.5]), System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Forwarded-For", address);
        using var response = await client.SendAsync(request).WaitAsync(FilterApi.CallTimeout);
        return response.StatusCode;
    }

    [Theory]
    [InlineData("ForwardedHeaders:KnownNetworks", "10.0.0.0/33")]
    [InlineData("ForwardedHeaders:KnownNetworks", "ingress")]
    [InlineData("ForwardedHeaders:KnownProxies", "10.0.0.300")]
    [InlineData("ForwardedHeaders:KnownProxies", "1.2.3")] // not 1.2.0.3, as IPAddress.Parse reads it
    [InlineData("ForwardedHeaders:KnownNetworks", "10.1.0.0/8")] // not 10.0.0.0/8, as IPNetwork.Parse reads it
    public async Task ABadTrustedProxySettingStopsTheServiceNamingIt(string setting, string value)
    {
        var ex = await Record.ExceptionAsync(async () =>
        {
            await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?> { [setting] = value });
        });

        Assert.NotNull(ex);
        var message = (ex is AggregateException aggregate ? aggregate.InnerException! : ex).Message;
        Assert.Contains(setting, message);
        Assert.Contains(value, message);
    }
}
