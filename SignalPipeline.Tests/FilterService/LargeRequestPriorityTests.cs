using System.Net;
using System.Text.Json;
using FilterService;
using Microsoft.AspNetCore.Builder;
using SignalPipeline.Tests.FilterGateway;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>
/// FilterService:LargeRequestNice (docs/filter-api.md "Limits"): large requests are served on low-priority threads,
/// small ones on the thread pool, and both get the same answers as before.
/// </summary>
public sealed class LargeRequestPriorityTests
{
    private const string NiceHeader = "X-Test-Thread-Nice";

    [Fact]
    public async Task TheSchedulersThreadsRunAtTheirNiceValue()
    {
        using var scheduler = new BackgroundPriorityScheduler(threads: 1, nice: 7);

        var nice = await Task.Factory.StartNew(BackgroundPriorityScheduler.CurrentThreadNice, CancellationToken.None,
            TaskCreationOptions.None, scheduler).WaitAsync(CallTimeout);

        Assert.Equal(OperatingSystem.IsLinux() ? 7 : null, nice);
    }

    [Fact]
    public async Task ALargeRequestIsFilteredOnTheLowPriorityThreadsAndASmallOneOnThePoolWithTheSameAnswers()
    {
        await using var service = await InProcessHost.StartAsync(
            new Dictionary<string, string?> { ["FilterService:SmallRequestBytes"] = "64", ["FilterService:LargeRequestNice"] = "5" },
            builder => builder.AddFilterService(),
            app =>
            {
                app.MapFilterService();
                // After admission, before the endpoint: which priority the request's own code runs at.
                app.Use((context, next) =>
                {
                    context.Response.Headers[NiceHeader] = BackgroundPriorityScheduler.CurrentThreadNice()?.ToString() ?? "unknown";
                    return next(context);
                });
            });
        using var client = service.CreateClient();
        var large = TestSignal(2000, seed: 16);

        var (largeNice, largeFiltered) = await RunAsync(client, RunBody(large));
        var (smallNice, smallFiltered) = await RunAsync(client, """{"signal":[1]}""");

        AssertBitIdentical(Reference("kalman", large), largeFiltered);
        AssertBitIdentical(Reference("kalman", [1.0]), smallFiltered);
        Assert.Equal(OperatingSystem.IsLinux() ? "5" : "unknown", largeNice);
        Assert.Equal(OperatingSystem.IsLinux() ? "0" : "unknown", smallNice);
    }

    private static async Task<(string? Nice, double[] Filtered)> RunAsync(HttpClient client, string body)
    {
        using var response = await PostJsonAsync(client, "/kalman/audio/run", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout));
        return (response.Headers.GetValues(NiceHeader).Single(), ReadSignal(json.RootElement.GetProperty("filtered_signal")));
    }
}
