using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// FilterGateway:MaxConcurrentLargeRequests (docs/filter-api.md, Gateway): large bodies take a slot before any of their
/// body is read; without one they wait FilterGateway:LargeRequestQueueTimeout, then get 503 with Retry-After, while
/// small requests pass by and large ones are served again once a slot frees.
/// </summary>
public sealed class GatewayLargeRequestTests
{
    [Fact]
    public async Task ALargeBodyWithoutASlotGets503WhileSmallOnesPassAndLargeOnesAreServedAgainAfterwards()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bodiesRead = new System.Collections.Concurrent.ConcurrentQueue<long?>();
        // A stand-in service that holds the first large request before reading its body, until the test releases it.
        await using var backend = await InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { }, app => app.Run(async context =>
        {
            if (context.Request.ContentLength > 1000 && holding.TrySetResult())
            {
                await release.Task;
            }

            await context.Request.Body.CopyToAsync(Stream.Null);
            if (HttpMethods.IsPost(context.Request.Method))
            {
                bodiesRead.Enqueue(context.Request.ContentLength);
            }
            await context.Response.WriteAsync("ok");
        }));
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:MaxConcurrentLargeRequests"] = "1",
            ["FilterGateway:LargeRequestBytes"] = "1000",
            ["FilterGateway:LargeRequestQueueTimeout"] = "00:00:00.2",
        });
        using var rejected = GatewayMetricsTests.CollectRejected(gateway);
        using var active = DocumentedMetric.Collect<long>(gateway.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), global::FilterGateway.GatewayMetrics.MeterName,
            "signalpipeline.gateway.large_requests.active").AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "{request}");
        using var queued = DocumentedMetric.Collect<long>(gateway.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), global::FilterGateway.GatewayMetrics.MeterName,
            "signalpipeline.gateway.large_requests.queued").AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "{request}");
        using var client = gateway.CreateClient();
        using var other = gateway.CreateClient();
        var large = new byte[64 * 1024];
        Assert.Equal(0, active.Observe());

        var first = client.PostAsync("/kalman/audio/run", new ByteArrayContent(large));
        await holding.Task.WaitAsync(InProcessHost.Timeout);
        Assert.Equal(1, active.Observe());
        Assert.Equal(0, queued.Observe());

        using (var refused = await other.PostAsync("/kalman/audio/run", new ByteArrayContent(large)).WaitAsync(InProcessHost.Timeout))
        {
            await FilterApi.AssertProblemAsync(refused, HttpStatusCode.ServiceUnavailable, "FilterGateway:MaxConcurrentLargeRequests");
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
            Assert.Equal(1, rejected.Sum(("reason", "large_requests")));
        }

        using (var small = await other.PostAsync("/kalman/audio/run", new StringContent("""{"signal":[1]}""", Encoding.UTF8, "application/json"))
                   .WaitAsync(InProcessHost.Timeout))
        {
            Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        }

        // Only the small request's body reached the service: the refused one was never forwarded.
        Assert.True(bodiesRead.Count == 1 && bodiesRead.All(length => length < 1000), "bodies read by the service: " + string.Join(", ", bodiesRead));
        release.SetResult();
        using (var firstResponse = await first.WaitAsync(InProcessHost.Timeout))
        {
            Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        }

        using var again = await other.PostAsync("/kalman/audio/run", new ByteArrayContent(large)).WaitAsync(InProcessHost.Timeout);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        await Poll.UntilAsync(() => active.Observe() == 0, InProcessHost.Timeout, () => "the lane's slot to be given back");
    }

    [Fact]
    public async Task TheLaneIsOffAtZero()
    {
        await using var backend = await InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { }, app => app.Run(async context =>
        {
            await Task.Delay(200);
            await context.Request.Body.CopyToAsync(Stream.Null);
            await context.Response.WriteAsync("ok");
        }));
        await using var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = backend.Address.ToString(),
            ["FilterGateway:MaxConcurrentLargeRequests"] = "0",
            ["FilterGateway:LargeRequestBytes"] = "1000",
            ["FilterGateway:LargeRequestQueueTimeout"] = "00:00:00",
        });
        using var client = gateway.CreateClient();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            using var response = await client.PostAsync("/kalman/audio/run", new ByteArrayContent(new byte[8192])).WaitAsync(InProcessHost.Timeout);
            return response.StatusCode;
        }));

        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
    }
}
