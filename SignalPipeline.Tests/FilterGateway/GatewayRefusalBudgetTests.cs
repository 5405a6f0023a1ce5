using System.Net;
using System.Text;
using FilterGateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.FilterService;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// FilterGateway:RefusalsPerAddress / RefusalWindow (docs/filter-api.md, Gateway): past its budget of 4xx answers a
/// client address gets 429 problem+json with Retry-After at once, never forwarded; other addresses are served meanwhile,
/// and the same address is served again once the window ends. The address is the one after the trusted proxies.
/// FilterGateway:ProbesPerAddressPerSecond: the health probes' own budget, answered the same way.
/// </summary>
public sealed class GatewayRefusalBudgetTests
{
    [Fact]
    public async Task AnAddressPastItsRefusalsGets429UnforwardedWhileOthersAreServedAndItIsServedAgainAfterTheWindow()
    {
        var forwarded = 0;
        await using var backend = await StartBackendAsync(() => Interlocked.Increment(ref forwarded));
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:RefusalsPerAddress"] = "3",
            ["FilterGateway:RefusalWindow"] = "00:00:02",
            // The test client stands where the Ingress is: its X-Forwarded-For names the client.
            ["ForwardedHeaders:KnownNetworks"] = "127.0.0.0/8",
        });
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);
        using var client = gateway.CreateClient();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync(client, "203.0.113.1", "bad"));
        }

        using (var refused = await SendAsync(client, "203.0.113.1", "good"))
        {
            // Word for word as docs/filter-api.md quotes it (there with the defaults, 50 in 10 s).
            await FilterApi.AssertProblemAsync(refused, HttpStatusCode.TooManyRequests,
                "Too many refused requests from this client: 3 answers 4xx within 2 s (FilterGateway:RefusalsPerAddress, "
                + "FilterGateway:RefusalWindow). Fix the requests; retry after 2 s.", FilterApi.TooManyRequestsType);
            Assert.Equal("2", refused.Headers.RetryAfter?.ToString());
            // A small body is read to its end by Kestrel and the connection kept (a larger one would close it).
            Assert.NotEqual(true, refused.Headers.ConnectionClose);
        }

        // So is a request without a body (a GET): there is nothing to read, so nothing to close for.
        using (var get = new HttpRequestMessage(HttpMethod.Get, "/algorithms"))
        {
            get.Headers.Add("X-Forwarded-For", "203.0.113.1");
            using var refused = await client.SendAsync(get).WaitAsync(InProcessHost.Timeout);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.NotEqual(true, refused.Headers.ConnectionClose);
        }

        Assert.Equal(3, Volatile.Read(ref forwarded));
        Assert.Equal(2, rejected.Sum(("reason", "refusals")));

        // Another client is not held to the first one's budget.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client, "203.0.113.2", "good"));

        var deadline = DateTime.UtcNow + InProcessHost.Timeout;
        HttpStatusCode status;
        while ((status = await StatusAsync(client, "203.0.113.1", "good")) != HttpStatusCode.OK)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, status);
            Assert.True(DateTime.UtcNow < deadline, "the address was never served again");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task ALargeBodyPastTheBudgetIsNotReadEvenWhileItsClientKeepsSending()
    {
        await using var backend = await StartBackendAsync(() => 0);
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:RefusalsPerAddress"] = "1",
            ["FilterGateway:RefusalWindow"] = "00:01:00",
            ["FilterGateway:RefusalDelay"] = "00:00:00",
            ["FilterGateway:MaxRequestBodyBytes"] = GatewayLargeRequestTests.UploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ForwardedHeaders:KnownNetworks"] = "127.0.0.0/8",
        });
        using var client = gateway.CreateClient();
        Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync(client, "203.0.113.1", "bad"));

        var (statusLine, uploaded) = await GatewayLargeRequestTests.UploadWhileReadingAsync(gateway.Address,
            GatewayLargeRequestTests.UploadHead("/kalman/audio/run", GatewayLargeRequestTests.UploadBytes, forwardedFor: "203.0.113.1"));

        Assert.StartsWith("HTTP/1.1 429", statusLine);
        Assert.False(uploaded, "the gateway read the whole body of a request it refused");
    }

    [Fact]
    public async Task TheBudgetIsOffAtZero()
    {
        await using var backend = await StartBackendAsync(() => 0);
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:RefusalsPerAddress"] = "0",
        });
        using var client = gateway.CreateClient();

        for (var i = 0; i < 60; i++)
        {
            Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync(client, "203.0.113.1", "bad"));
        }
    }

    [Fact]
    public async Task A429IsHeldForRefusalDelayButNoMoreThanMaxHeldRefusalsAtOnce()
    {
        await using var backend = await StartBackendAsync(() => 0);
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:RefusalsPerAddress"] = "1",
            ["FilterGateway:RefusalWindow"] = "00:01:00",
            ["FilterGateway:RefusalDelay"] = "00:01:00",
            ["FilterGateway:MaxHeldRefusals"] = "1",
            ["ForwardedHeaders:KnownNetworks"] = "127.0.0.0/8",
        });
        using var heldGauge = DocumentedMetric.Collect<long>(gateway.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            GatewayMetrics.MeterName, "signalpipeline.gateway.refusals.held").AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "{request}");
        using var client = gateway.CreateClient();
        using var other = gateway.CreateClient();
        Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync(client, "203.0.113.1", "bad"));
        Assert.Equal(0, heldGauge.Sum());

        // The first refusal is held (a minute); the second finds the one place taken and is answered without waiting.
        using var stop = new CancellationTokenSource();
        using var heldRequest = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/run") { Content = new StringContent("good") };
        heldRequest.Headers.Add("X-Forwarded-For", "203.0.113.1");
        var held = client.SendAsync(heldRequest, stop.Token);
        var deadline = DateTime.UtcNow + InProcessHost.Timeout;
        while (gateway.App.Services.GetRequiredService<RefusalBudget>().Held == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the first 429 was never held");
            await Task.Delay(20);
        }

        using (var refused = await SendAsync(other, "203.0.113.1", "good"))
        {
            await FilterApi.AssertProblemAsync(refused, HttpStatusCode.TooManyRequests, "FilterGateway:RefusalsPerAddress",
                FilterApi.TooManyRequestsType);
            Assert.Equal("60", refused.Headers.RetryAfter?.ToString());
        }

        Assert.False(held.IsCompleted, "the held 429 was sent before its delay");
        Assert.Equal(1, heldGauge.Sum()); // the one held, not the one answered at once
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held.WaitAsync(InProcessHost.Timeout));
        await Poll.UntilAsync(() => heldGauge.Sum() == 0, InProcessHost.Timeout, () => "the held place to be given back when its client left");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client, "203.0.113.9", "good"));
    }

    [Theory]
    [InlineData("/alive")]
    [InlineData("/health")]
    public async Task AnAddressPastItsProbesPerSecondGets429ProbesWhileOthersAreServedAndItIsServedAgain(string probe)
    {
        await using var backend = await StartBackendAsync(() => 0);
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:ProbesPerAddressPerSecond"] = "3",
            ["FilterGateway:RefusalDelay"] = "00:00:00",
            ["ForwardedHeaders:KnownNetworks"] = "127.0.0.0/8",
        });
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);
        using var client = gateway.CreateClient();

        // More probes than the budget within one second: some are refused (the window may start between two of them,
        // so not necessarily the fourth), each refusal a 429 naming the setting.
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        var deadline = DateTime.UtcNow + InProcessHost.Timeout;
        while (refused is null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no probe was refused; saw {string.Join(", ", statuses)}");
            var response = await GetFromAsync(client, probe, "203.0.113.1");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused = response;
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                response.Dispose();
            }
        }

        using (refused)
        {
            await FilterApi.AssertProblemAsync(refused, HttpStatusCode.TooManyRequests,
                "Too many health probes from this client: more than 3 a second (FilterGateway:ProbesPerAddressPerSecond); retry after a second.",
                FilterApi.TooManyRequestsType);
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
        }

        Assert.True(statuses.Count >= 4, $"a probe was refused within the budget: {string.Join(", ", statuses)}");
        Assert.Equal(1, rejected.Sum(("reason", "probes")));
        Assert.Equal(1, rejected.Sum());

        // Another address has its own budget; the refused one is served again in a later second.
        using (var other = await GetFromAsync(client, probe, "203.0.113.2"))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        while (true)
        {
            using var again = await GetFromAsync(client, probe, "203.0.113.1");
            if (again.StatusCode == HttpStatusCode.OK)
            {
                break;
            }

            Assert.Equal(HttpStatusCode.TooManyRequests, again.StatusCode);
            Assert.True(DateTime.UtcNow < deadline, "the address's probes were never served again");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task TheProbeBudgetIsOffAtZero()
    {
        await using var backend = await StartBackendAsync(() => 0);
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:ProbesPerAddressPerSecond"] = "0",
        });
        using var client = gateway.CreateClient();

        // 50 at once, far past the default budget of 20 a second.
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => GetFromAsync(client, "/alive", "203.0.113.1")));
        Assert.All(responses, response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        Array.ForEach(responses, response => response.Dispose());
    }

    /// <summary>A GET of <paramref name="path"/> as the trusted proxy would forward it for <paramref name="address"/> (X-Forwarded-For).</summary>
    internal static Task<HttpResponseMessage> GetFromAsync(HttpClient client, string path, string address)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("X-Forwarded-For", address);
        return client.SendAsync(request);
    }

    /// <summary>A stand-in service: 400 for a body "bad", 200 otherwise; <paramref name="received"/> counts what reached it.</summary>
    private static Task<InProcessHost> StartBackendAsync(Func<int> received)
        => InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { }, app => app.Run(async context =>
        {
            if (!HttpMethods.IsPost(context.Request.Method))
            {
                await context.Response.WriteAsync("ok");
                return;
            }

            received();
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            context.Response.StatusCode = body == "bad" ? StatusCodes.Status400BadRequest : StatusCodes.Status200OK;
            await context.Response.WriteAsync(body);
        }));

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string address, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/run") { Content = new StringContent(body, Encoding.UTF8, "text/plain") };
        request.Headers.Add("X-Forwarded-For", address);
        return client.SendAsync(request).WaitAsync(InProcessHost.Timeout);
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient client, string address, string body)
    {
        using var response = await SendAsync(client, address, body);
        return response.StatusCode;
    }
}
