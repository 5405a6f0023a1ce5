using System.Diagnostics.Metrics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SignalPipeline.Tests.FilterService;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// A filter service or the gateway asked to stop (SIGTERM: a rolling update, a scale-down) with a request in flight:
/// the request is answered in full before the host stops, and no new connection is taken meanwhile (docs/filter-api.md,
/// "Stopping"). The stop is the host's own (<c>StopAsync</c>, what the console lifetime calls on SIGTERM).
/// </summary>
public sealed class ShutdownDrainTests
{
    [Fact]
    public async Task A_service_stopped_in_the_middle_of_a_request_body_answers_it_in_full_before_it_stops()
    {
        var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var active = ActiveRequests(service);
        using var client = service.CreateClient();
        var signal = TestSignal(2000, seed: 7);
        var body = Encoding.UTF8.GetBytes(RunBody(signal));
        var pipe = new Pipe();
        using var content = new StreamContent(pipe.Reader.AsStream());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        content.Headers.ContentLength = body.Length;

        var answer = client.PostAsync("/kalman/audio/run", content);
        await pipe.Writer.WriteAsync(body.AsMemory(0, body.Length / 2)).AsTask().WaitAsync(CallTimeout);
        await Poll.UntilAsync(() => active.Sum() == 1, CallTimeout, () => "the request to have started");

        var stopped = service.App.StopAsync();
        await Poll.UntilAsync(() => Stopping(service), CallTimeout, () => "the host to be stopping");
        await pipe.Writer.WriteAsync(body.AsMemory(body.Length / 2)).AsTask().WaitAsync(CallTimeout);
        await pipe.Writer.CompleteAsync();

        using var response = await answer.WaitAsync(CallTimeout);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"got {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        AssertBitIdentical(Reference("kalman", signal), ReadSignal(json.RootElement.GetProperty("filtered_signal")));
        await stopped.WaitAsync(CallTimeout);
        await AssertRefusesConnectionsAsync(service.Address);
        await service.App.DisposeAsync();
    }

    [Fact]
    public async Task The_gateway_stopped_while_a_forwarded_request_waits_for_its_service_answers_it_before_it_stops()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var service = await InProcessHost.StartAsync(new Dictionary<string, string?>(), _ => { }, app =>
        {
            app.Run(async context =>
            {
                // The gateway's probes are answered at once: only a forwarded request waits.
                if (context.Request.Path.StartsWithSegments("/health"))
                {
                    await context.Response.WriteAsync("Healthy");
                    return;
                }

                arrived.TrySetResult();
                await release.Task.WaitAsync(context.RequestAborted);
                await context.Response.WriteAsync("{\"answered\":true}");
            });
        });
        var gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?>
        {
            ["KALMAN_SERVICE_URL"] = service.Address.ToString(),
        });
        using var client = gateway.CreateClient();

        var answer = PostJsonAsync(client, "/kalman/audio/run", RunBody([0.2, 0.9]));
        await arrived.Task.WaitAsync(CallTimeout);
        var stopped = gateway.App.StopAsync();
        await Poll.UntilAsync(() => Stopping(gateway), CallTimeout, () => "the gateway to be stopping");
        release.SetResult();

        using var response = await answer.WaitAsync(CallTimeout);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"answered\":true}", await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout));
        await stopped.WaitAsync(CallTimeout);
        await AssertRefusesConnectionsAsync(gateway.Address);
        await gateway.App.DisposeAsync();
    }

    [Fact]
    public async Task A_request_still_running_when_the_shutdown_wait_ends_is_reset_and_the_service_logs_how_many_were()
    {
        var log = new ErrorLog(LogLevel.Warning);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var service = await StartWithShutdownWaitAsync(log, async context =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        using var client = service.CreateClient();

        var answer = client.GetAsync("/work");
        await started.Task.WaitAsync(CallTimeout);
        await service.App.StopAsync().WaitAsync(CallTimeout);

        await Assert.ThrowsAsync<HttpRequestException>(() => answer.WaitAsync(CallTimeout));
        Assert.Single(log.Entries, entry => entry.StartsWith("1 request(s) still running when the 1 s shutdown wait (HostOptions.ShutdownTimeout) ended", StringComparison.Ordinal));
        await service.App.DisposeAsync();
    }

    [Fact]
    public async Task A_service_that_answered_every_request_within_the_shutdown_wait_logs_no_unanswered_request()
    {
        var log = new ErrorLog(LogLevel.Warning);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var service = await StartWithShutdownWaitAsync(log, async context =>
        {
            started.TrySetResult();
            await release.Task;
            await context.Response.WriteAsync("answered");
        });
        using var client = service.CreateClient();

        var answer = client.GetAsync("/work");
        await started.Task.WaitAsync(CallTimeout);
        var stopped = service.App.StopAsync();
        await Poll.UntilAsync(() => Stopping(service), CallTimeout, () => "the host to be stopping");
        release.SetResult();
        using var response = await answer.WaitAsync(CallTimeout);
        Assert.Equal("answered", await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout));
        await stopped.WaitAsync(CallTimeout);

        // Past the end of the wait: the stop ended first, and nothing is reported.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.DoesNotContain(log.Entries, entry => entry.Contains("shutdown wait", StringComparison.Ordinal));
        await service.App.DisposeAsync();
    }

    /// <summary>An app with the service defaults, a 1 s shutdown wait, and <paramref name="work"/> at <c>GET /work</c>.</summary>
    private static Task<InProcessHost> StartWithShutdownWaitAsync(ErrorLog log, RequestDelegate work)
        => InProcessHost.StartAsync(new Dictionary<string, string?>(), builder =>
        {
            builder.AddServiceDefaults();
            builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(1));
            builder.Logging.AddProvider(log);
        }, app => app.MapGet("/work", work));

    /// <summary>ASP.NET Core's <c>http.server.active_requests</c>: +1 when a request starts, -1 when it ends.</summary>
    private static MetricCollector<long> ActiveRequests(InProcessHost host)
        => new(host.App.Services.GetRequiredService<IMeterFactory>(), "Microsoft.AspNetCore.Hosting", "http.server.active_requests");

    private static bool Stopping(InProcessHost host)
        => host.App.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested;

    private static async Task AssertRefusesConnectionsAsync(Uri address)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => tcp.ConnectAsync(address.Host, address.Port).WaitAsync(CallTimeout));
    }
}
