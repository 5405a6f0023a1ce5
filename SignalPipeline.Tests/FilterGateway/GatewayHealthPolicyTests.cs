using System.Net;
using FilterGateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Filters;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// The gateway's active health policy (<see cref="ReachableHealthPolicy"/>, docs/filter-api.md "Active health checks,
/// fast 503") seen from outside: a stand-in kalman service whose <c>/health</c> answers 5xx, hangs past
/// <c>FilterGateway:HealthCheckTimeout</c> or answers 404, or a kalman address where nothing listens (connection refused),
/// and what the gateway then answers for kalman and the other algorithms, its own probes and
/// <c>signalpipeline.gateway.requests.rejected{reason=no_healthy_destination}</c>.
/// </summary>
public sealed class GatewayHealthPolicyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>How the stand-in answers one probe.</summary>
    public enum Probe
    {
        Healthy,
        ServerError,
        Hang,
        NotFound,
    }

    [Theory]
    [InlineData(Probe.ServerError)]
    [InlineData(Probe.Hang)]
    public async Task A_service_failing_its_probes_is_answered_503_by_the_gateway_which_stays_healthy_and_it_is_used_again_once_it_answers(Probe failure)
    {
        var health = new ScriptedHealth(_ => failure);
        await using var rig = await Rig.StartAsync(health);
        var (client, rejected) = (rig.Client, rig.Rejected);

        // Before the second failed probe the destination is still in use (the stand-in answers 200).
        var statuses = await PostUntilAsync(client, HttpStatusCode.ServiceUnavailable);
        AssertAllServed(statuses[..^1]);
        // (A hanging probe is counted when the stand-in sees the gateway give up on it, which may come just after.)
        await Poll.UntilAsync(() => health.Failed >= ReachableHealthPolicy.FailuresToUnhealthy, Patience,
            () => $"the stand-in to have failed {ReachableHealthPolicy.FailuresToUnhealthy} probes (failed {health.Failed})");
        using (var unavailable = await PostAsync(client))
        {
            await AssertProblemAsync(unavailable, HttpStatusCode.ServiceUnavailable,
                "No healthy instance of the 'kalman' service: its health probe failed (checked every 0.2 s, FilterGateway:HealthCheckInterval). Retry later.");
            Assert.Equal(TimeSpan.FromSeconds(1), unavailable.Headers.RetryAfter?.Delta);
        }

        Assert.Equal(2, rejected.Sum(("reason", "no_healthy_destination")));
        Assert.Equal(2, rejected.Sum());
        await AssertGatewayHealthyAsync(client);

        health.AnswerWith(_ => Probe.Healthy);
        await PostUntilAsync(client, HttpStatusCode.OK);
    }

    [Theory]
    [InlineData(Probe.ServerError)]
    [InlineData(Probe.Hang)]
    public async Task One_failed_probe_between_answered_ones_never_takes_the_service_out(Probe failure)
    {
        // Every other probe fails: never two in a row. Had one failure been enough, the destination would be out for a
        // probe interval after each failed probe, and some of the requests sent all along would get the gateway's 503.
        var health = new ScriptedHealth(probe => probe % 2 == 1 ? failure : Probe.Healthy);
        await using var rig = await Rig.StartAsync(health);
        var (client, rejected) = (rig.Client, rig.Rejected);

        AssertAllServed(await PostWhileAsync(client, () => health.Failed < 5));
        Assert.Equal(0, rejected.Sum());
        await AssertGatewayHealthyAsync(client);
    }

    [Fact]
    public async Task A_service_whose_health_answers_404_is_in_use()
    {
        // An original remote service has no /health but answers: any answer below 500 is alive.
        var health = new ScriptedHealth(_ => Probe.NotFound);
        await using var rig = await Rig.StartAsync(health);
        var (client, rejected) = (rig.Client, rig.Rejected);

        AssertAllServed(await PostWhileAsync(client, () => health.Answered < 5));
        Assert.Equal(0, rejected.Sum());
    }

    [Fact]
    public async Task A_service_refusing_connections_gets_502_then_503_while_the_others_are_served_and_is_used_again_after_one_answered_probe()
    {
        // Nothing listens on kalman's port: each probe and each request fails to connect, after FilterGateway:ConnectRetries (2).
        var port = LoopbackPort.Free();
        await using var rig = await Rig.StartWithKalmanAtAsync(new Uri($"http://127.0.0.1:{port}/"));
        var (client, rejected, failures) = (rig.Client, rig.Rejected, rig.ForwardErrors);

        // Until the second failed probe the destination is still in use, and a request meets the closed port.
        using (var unreachable = await PostAsync(client))
        {
            await AssertProblemAsync(unreachable, HttpStatusCode.BadGateway,
                "The 'kalman' service could not be reached: no connection after 3 attempt(s) (FilterGateway:ConnectRetries). Retry later.",
                "https://tools.ietf.org/html/rfc9110#section-15.6.3");
        }

        var statuses = await PostUntilAsync(client, HttpStatusCode.ServiceUnavailable);
        AssertAll(statuses[..^1], HttpStatusCode.BadGateway);
        using (var unavailable = await PostAsync(client))
        {
            await AssertProblemAsync(unavailable, HttpStatusCode.ServiceUnavailable,
                "No healthy instance of the 'kalman' service: its health probe failed (checked every 5 s, FilterGateway:HealthCheckInterval). Retry later.",
                "https://tools.ietf.org/html/rfc9110#section-15.6.4");
            Assert.Equal(TimeSpan.FromSeconds(5), unavailable.Headers.RetryAfter?.Delta);
        }

        // Each 502 counted as a connect failure (the first request and those before the 503), each 503 as a rejection.
        Assert.Equal(statuses.Count, failures.Sum(("reason", "connect")));
        Assert.Equal(statuses.Count, failures.Sum());
        Assert.Equal(2, rejected.Sum(("reason", "no_healthy_destination")));
        Assert.Equal(2, rejected.Sum());
        foreach (var other in FilterFactory.Registrations.Where(registration => registration.Name != "kalman"))
        {
            using var served = await PostAsync(client, other.Name);
            Assert.True(served.StatusCode == HttpStatusCode.OK, $"{other.Name} answered {(int)served.StatusCode} while kalman was out");
        }

        await AssertGatewayHealthyAsync(client);

        // A service comes up on the port: nothing is forwarded to it before it answers a probe, and one answered probe
        // brings kalman back (the next is 5 s away).
        var health = new ScriptedHealth(_ => Probe.Healthy);
        await using var back = await StandInAsync(health, port);
        AssertAll(await PostWhileAsync(client, () => health.Answered == 0), HttpStatusCode.ServiceUnavailable);
        statuses = await PostUntilAsync(client, HttpStatusCode.OK);
        AssertAll(statuses[..^1], HttpStatusCode.ServiceUnavailable);
        Assert.Equal(1, health.Answered);
    }

    /// <summary>
    /// A stand-in service behind a gateway that gives each probe 0.5 s (a hanging one fails within a second); the
    /// gateway's <c>requests.rejected</c> and <c>forward_errors</c>, and a client of it.
    /// </summary>
    private sealed class Rig(InProcessHost service, InProcessHost gateway) : IAsyncDisposable
    {
        public HttpClient Client { get; } = gateway.CreateClient();

        public MetricCollector<long> Rejected { get; } = GatewayMetricsTests.CollectRejected(gateway);

        public MetricCollector<long> ForwardErrors { get; } = FilterApiErrorRowTests.CollectForwardErrors(gateway);

        /// <summary>The stand-in is kalman's, probed every 0.2 s.</summary>
        public static async Task<Rig> StartAsync(ScriptedHealth health)
        {
            var service = await StandInAsync(health);
            return await StartAsync(service, "00:00:00.2", new() { ["KALMAN_SERVICE_URL"] = service.Address.ToString() });
        }

        /// <summary>
        /// Kalman at <paramref name="kalman"/>, every other algorithm at a stand-in that is always healthy; probed every
        /// 5 s, so that a request sent at once is answered before the second probe can fail, even on a loaded machine.
        /// </summary>
        public static async Task<Rig> StartWithKalmanAtAsync(Uri kalman)
        {
            var others = await StandInAsync(new ScriptedHealth(_ => Probe.Healthy));
            return await StartAsync(others, "00:00:05", FilterFactory.Registrations.ToDictionary(
                registration => registration.ServiceUrlSetting,
                registration => (string?)(registration.Name == "kalman" ? kalman : others.Address).ToString()));
        }

        private static async Task<Rig> StartAsync(InProcessHost service, string interval, Dictionary<string, string?> settings)
        {
            settings["FilterGateway:HealthCheckInterval"] = interval;
            settings["FilterGateway:HealthCheckTimeout"] = "00:00:00.5";
            return new Rig(service, await GatewaySettingsTests.StartGatewayAsync(settings));
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            Rejected.Dispose();
            ForwardErrors.Dispose();
            await gateway.DisposeAsync();
            await service.DisposeAsync();
        }
    }

    /// <summary>The gateway's own probes stay green whatever its services do (docs/operations.md).</summary>
    private static async Task AssertGatewayHealthyAsync(HttpClient client)
    {
        foreach (var probe in new[] { "/health", "/alive" })
        {
            using var response = await client.GetAsync(probe).WaitAsync(Patience);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    /// <summary>A stand-in service on <paramref name="port"/> (0: any): <c>/health</c> as the script says, any other request 200 <c>{}</c>.</summary>
    private static Task<InProcessHost> StandInAsync(ScriptedHealth health, int port = 0) => InProcessHost.StartAsync(new Dictionary<string, string?>(),
        builder => builder.WebHost.UseUrls($"http://127.0.0.1:{port}"),
        // Not MapGet: the endpoint of a mapped route runs after the pipeline, and app.Run would answer first.
        app => app.Run(context => context.Request.Path == "/health" ? health.AnswerAsync(context) : context.Response.WriteAsync("{}")));

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string algorithm = "kalman")
        => PostJsonAsync(client, $"/{algorithm}/audio/run", RunBody([0.2, 0.9]));

    /// <summary>Requests until one gets <paramref name="wanted"/>; every status seen, in order.</summary>
    private static async Task<List<HttpStatusCode>> PostUntilAsync(HttpClient client, HttpStatusCode wanted)
    {
        var statuses = new List<HttpStatusCode>();
        var deadline = DateTime.UtcNow + Patience;
        while (statuses.Count == 0 || statuses[^1] != wanted)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the gateway never answered {(int)wanted}: {string.Join(", ", statuses.Distinct())}");
            using var response = await PostAsync(client);
            statuses.Add(response.StatusCode);
        }

        return statuses;
    }

    private static void AssertAllServed(List<HttpStatusCode> statuses) => AssertAll(statuses, HttpStatusCode.OK);

    private static void AssertAll(List<HttpStatusCode> statuses, HttpStatusCode wanted)
        => Assert.True(statuses.All(status => status == wanted),
            $"{statuses.Count(status => status != wanted)} of {statuses.Count} requests were not answered {(int)wanted}: "
            + string.Join(", ", statuses.Distinct()));

    /// <summary>Requests every 10 ms while <paramref name="going"/> holds (about 20 within a probe interval); every status seen.</summary>
    private static async Task<List<HttpStatusCode>> PostWhileAsync(HttpClient client, Func<bool> going)
    {
        var statuses = new List<HttpStatusCode>();
        var deadline = DateTime.UtcNow + Patience;
        while (going())
        {
            Assert.True(DateTime.UtcNow < deadline, "the gateway's probes did not come as often as set");
            using (var response = await PostAsync(client))
            {
                statuses.Add(response.StatusCode);
            }

            await Task.Delay(10);
        }

        return statuses;
    }

    /// <summary>The stand-in's <c>/health</c>: the n-th probe (from 0) is answered as the script says for n.</summary>
    private sealed class ScriptedHealth(Func<int, Probe> script)
    {
        private Func<int, Probe> _script = script;
        private int _probes;
        private int _failed;
        private int _answered;

        /// <summary>Probes answered 5xx or left hanging until the gateway gave up on them.</summary>
        public int Failed => Volatile.Read(ref _failed);

        /// <summary>Probes answered below 500.</summary>
        public int Answered => Volatile.Read(ref _answered);

        public void AnswerWith(Func<int, Probe> script) => Volatile.Write(ref _script, script);

        public async Task AnswerAsync(HttpContext context)
        {
            switch (Volatile.Read(ref _script)(Interlocked.Increment(ref _probes) - 1))
            {
                case Probe.ServerError:
                    context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                    Interlocked.Increment(ref _failed);
                    break;
                case Probe.Hang:
                    try
                    {
                        await Task.Delay(Timeout.Infinite, context.RequestAborted);
                    }
                    catch (OperationCanceledException)
                    {
                        // The gateway's HealthCheckTimeout: it gave up on the probe.
                        Interlocked.Increment(ref _failed);
                    }

                    break;
                case Probe.NotFound:
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    Interlocked.Increment(ref _answered);
                    break;
                default:
                    await context.Response.WriteAsync("Healthy");
                    Interlocked.Increment(ref _answered);
                    break;
            }
        }
    }
}
