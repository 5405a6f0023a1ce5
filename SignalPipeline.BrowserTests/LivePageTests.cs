using System.Text;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Confluent.Kafka;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace SignalPipeline.BrowserTests;

/// <summary>
/// The live page as a person sees it: Debian's chromium driven by Playwright opens the bridge's page from the running
/// AppHost, picks a stream, and watches the chart fill and the figures show a rate. A screenshot is kept.
/// </summary>
public sealed class LivePageTests(LivePageApp app, ITestOutputHelper output) : IClassFixture<LivePageApp>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Picking_a_stream_shows_its_chart_updating_with_a_rate()
    {
        var streamId = app.StreamId;
        using var playwright = await Playwright.CreateAsync().WaitAsync(Timeout);
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            // Debian's chromium, never a downloaded build (PLATFORM.md); these flags work as root in a container.
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        }).WaitAsync(Timeout);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        page.SetDefaultTimeout((float)Timeout.TotalMilliseconds);
        var console = new StringBuilder();
        page.Console += (_, message) => console.AppendLine($"[{message.Type}] {message.Text}");
        page.PageError += (_, error) => console.AppendLine($"[pageerror] {error}");

        try
        {
            await page.GotoAsync(app.PageUri.ToString());
            await page.WaitForSelectorAsync("#connection[data-state='open']");

            // The stream appears in the picker once the bridge has seen it; a click shows only that stream.
            await page.Locator($"[data-stream-pick='{streamId}']").ClickAsync();
            var card = page.Locator($"[data-stream-card='{streamId}']");
            await card.WaitForAsync();
            Assert.Equal(1, await page.Locator("[data-stream-card]").CountAsync());

            // The chart fills: its point count grows from one look to the next.
            var cardSelector = $"[data-stream-card='{streamId}']";
            await page.WaitForFunctionAsync($"() => Number(document.querySelector(\"{cardSelector}\").dataset.points) > 0");
            var first = int.Parse(await card.GetAttributeAsync("data-points") ?? "0");
            await page.WaitForFunctionAsync($"n => Number(document.querySelector(\"{cardSelector}\").dataset.points) > n", first);
            var later = int.Parse(await card.GetAttributeAsync("data-points") ?? "0");
            Assert.True(later > first, $"points {first} -> {later}");

            // The figures show the stream's rate, as a number, and its algorithm.
            var rate = card.Locator("[data-figure='rate']");
            await page.WaitForFunctionAsync($"() => Number(document.querySelector(\"{cardSelector} [data-figure='rate']\").dataset.value) > 0");
            Assert.Matches(@"^[\d,.]+( k| M)?$", (await rate.TextContentAsync())!.Trim());
            Assert.Equal("lms", (await card.Locator("[data-figure='algorithm']").TextContentAsync())!.Trim());

            // Let the window fill a little more so the picture shows a signal, then keep it.
            await page.WaitForFunctionAsync($"() => Number(document.querySelector(\"{cardSelector}\").dataset.points) > 300");
            var screenshot = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots", "live-page.png");
            Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
            output.WriteLine($"Screenshot: {screenshot}");
            Console.WriteLine($"Screenshot: {screenshot}");

            // Pause stops the stream for this page; resume brings it back.
            await page.Locator("#pause").ClickAsync();
            await page.WaitForSelectorAsync("#connection[data-state='paused']");
            await page.Locator("#pause").ClickAsync();
            await page.WaitForSelectorAsync("#connection[data-state='open']");
            var resumedFrom = int.Parse(await page.Locator("body").GetAttributeAsync("data-frames") ?? "0");
            await page.WaitForFunctionAsync("n => Number(document.body.dataset.frames) > n", resumedFrom);
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + console);
        }
    }
}

/// <summary>
/// The AppHost plus a producer writing one test stream of filtered chunks to <c>sample-output</c> for as long as the
/// tests run, so the page has data whatever else the app produces.
/// </summary>
public sealed class LivePageApp : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    private readonly CancellationTokenSource _stop = new();
    private DistributedApplication? _app;
    private Task? _producing;

    public string StreamId { get; } = "browser-" + Guid.NewGuid().ToString("N")[..8];

    public Uri PageUri { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // The dev broker whatever this machine has (a container runtime, KAFKA_BROKERS): as SignalPipeline.Tests' TestAppHost.
        string[] kafkaPins = ["Kafka:Broker=dev", "KAFKA_BROKERS=", "ConnectionStrings:kafka="];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.SignalPipeline_AppHost>(kafkaPins).WaitAsync(StartTimeout);
        foreach (var resource in builder.Resources.OfType<IResourceWithEnvironment>())
        {
            // No dashboard in tests: without this each service waits ~10 s at stop for a gone OTLP endpoint.
            resource.Annotations.Add(new EnvironmentCallbackAnnotation(env => env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "1000"));
        }

        _app = await builder.BuildAsync().WaitAsync(StartTimeout);
        await _app.StartAsync().WaitAsync(StartTimeout);
        await _app.ResourceNotifications.WaitForResourceHealthyAsync("websocket-bridge").WaitAsync(StartTimeout);
        PageUri = _app.GetEndpoint("websocket-bridge", "http");

        var bootstrap = await _app.GetConnectionStringAsync("kafka").AsTask().WaitAsync(StartTimeout);
        _producing = Task.Run(() => Produce(bootstrap!, _stop.Token));
    }

    /// <summary>A noisy two-tone signal at about 4000 samples/s in chunks of 200, with a moving average as "filtered".</summary>
    private async Task Produce(string bootstrap, CancellationToken stop)
    {
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap, LingerMs = 1 }).Build();
        var random = new Random(3);
        var average = 0.0;
        for (var seq = 0L; !stop.IsCancellationRequested; seq++)
        {
            var raw = new double[200];
            var filtered = new double[200];
            for (var i = 0; i < raw.Length; i++)
            {
                var n = seq * raw.Length + i;
                raw[i] = Math.Sin(n * 2 * Math.PI / 2000) + 0.3 * Math.Sin(n * 2 * Math.PI / 130) + 0.25 * (random.NextDouble() - 0.5);
                average += 0.05 * (raw[i] - average);
                filtered[i] = average;
            }

            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            // The contract's JSON form (docs/messages.md), written out here so this project needs no reference to the codec.
            var json = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["stream_id"] = StreamId, ["seq"] = seq, ["algorithm"] = "lms", ["signal"] = raw, ["filtered_signal"] = filtered,
                ["timestamp_ms"] = now - 2, ["processed_ms"] = now,
            });
            producer.Produce("sample-output", new Message<string, string> { Key = StreamId, Value = json });
            try
            {
                await Task.Delay(50, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        producer.Flush(TimeSpan.FromSeconds(5));
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_producing is not null)
        {
            await _producing.WaitAsync(TimeSpan.FromSeconds(30));
        }

        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await _app.DisposeAsync();
        }
    }
}
