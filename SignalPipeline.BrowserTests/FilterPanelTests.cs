using Microsoft.Playwright;
using Xunit.Abstractions;

namespace SignalPipeline.BrowserTests;

/// <summary>
/// The filter panel of a stream card (docs/websocket-bridge.md, "The page"): for a stream the processor filters with its
/// own config, the page shows the algorithm and parameters in effect and plots the weights as answers come in; without a
/// processor address it says so and draws nothing.
/// </summary>
[Collection(LivePageApp.Collection)]
[Trait("Category", "AppHost")] // starts the whole AppHost (LivePageApp), as SignalPipeline.Tests' Category=AppHost tests do
public sealed class FilterPanelTests(LivePageApp app, ITestOutputHelper output)
{
    [Fact]
    public async Task A_stream_with_its_own_config_shows_its_algorithm_parameters_and_a_growing_weights_plot()
    {
        var streamId = app.ProcessedStreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;
        try
        {
            await browser.PickStreamAsync(app.PageUri, streamId);
            var cardSelector = $"[data-stream-card='{streamId}']";

            // The output's algorithm field is the stream's own (written in stream-config before its first chunk).
            await page.WaitForFunctionAsync($"() => document.querySelector(\"{cardSelector} [data-figure='algorithm']\").textContent.trim() === '{LivePageApp.ProcessedAlgorithm}'");

            var (panelSelector, panel) = await OpenPanelAsync(page, streamId);
            await page.WaitForSelectorAsync($"{panelSelector}[data-state='ok']");
            Assert.Equal(LivePageApp.ProcessedAlgorithm, (await panel.Locator("[data-filter-field='algorithm']").TextContentAsync())!.Trim());
            Assert.Contains($"order={LivePageApp.ProcessedOrder}", await panel.Locator("[data-filter-field='params']").TextContentAsync());
            Assert.Contains("lambda=", await panel.Locator("[data-filter-field='params']").TextContentAsync());
            Assert.Equal("stream-config", (await panel.Locator("[data-filter-field='source']").TextContentAsync())!.Trim());

            // One line per weight (order 4), and the plot grows with each answer (about one a second).
            Assert.Equal(LivePageApp.ProcessedOrder, await panel.Locator(".filter-legend .key").CountAsync());
            await page.WaitForFunctionAsync($"() => Number(document.querySelector(\"{panelSelector}\").dataset.points) > 0");
            var first = int.Parse(await panel.GetAttributeAsync("data-points") ?? "0");
            await page.WaitForFunctionAsync($"n => Number(document.querySelector(\"{panelSelector}\").dataset.points) > n + 1", first);
            Assert.Equal(1, await panel.Locator(".filter-chart canvas").CountAsync());
            Assert.Contains("samples=", await panel.Locator("[data-filter-field='values']").TextContentAsync());

            var screenshot = await browser.ScreenshotAsync("filter-panel.png");
            output.WriteLine($"Screenshot: {screenshot}");

            // Closed, the panel stops asking.
            await panel.Locator("summary").ClickAsync();
            await page.WaitForSelectorAsync($"{panelSelector}[data-state='closed']");
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    [Fact]
    public async Task Without_a_processor_address_the_panel_says_so_and_draws_nothing()
    {
        var streamId = app.StreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;
        // The bridge's documented answer when Bridge:ProcessorUrl / PROCESSOR_URL is not set (this app sets it).
        await page.RouteAsync("**/streams/*/filter", route => route.FulfillAsync(new RouteFulfillOptions
        {
            Status = 501,
            ContentType = "application/problem+json",
            Body = """{"title":"Filter state not configured","status":501,"detail":"This bridge has no processor address (Bridge:ProcessorUrl or PROCESSOR_URL), so it cannot show filter states."}""",
        }));
        try
        {
            await browser.PickStreamAsync(app.PageUri, streamId);
            var (panelSelector, panel) = await OpenPanelAsync(page, streamId);

            await page.WaitForSelectorAsync($"{panelSelector}[data-state='not-configured']");
            Assert.Contains("PROCESSOR_URL", await panel.Locator("[data-filter-status]").TextContentAsync());
            Assert.Equal("0", await panel.GetAttributeAsync("data-points"));
            Assert.Equal(0, await panel.Locator(".filter-chart canvas").CountAsync());
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    [Fact]
    public async Task A_weight_vector_that_changes_length_beyond_the_lines_shown_starts_a_new_plot()
    {
        var streamId = app.StreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;

        // The processor's view of an rls stream whose order goes from 16 to 32 (a stream-config switch): both vectors
        // are longer than the 8 lines drawn, so only the whole length tells the two filters apart.
        var order = 16;
        await page.RouteAsync("**/streams/*/filter", route =>
        {
            var weights = string.Join(",", Enumerable.Range(0, order).Select(i => (0.01 * i).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            return route.FulfillAsync(FilterView($$$"""{"streamId":"{{{streamId}}}","lastSeq":7,"config":{"algorithm":"rls","params":{"order":{{{order}}},"lambda":0.99},"source":"stream-config","switchSeq":null},"filter":{"algorithm":"rls","values":{},"vectors":{"weights":[{{{weights}}}]},"samplesProcessed":1024}}"""));
        });
        try
        {
            await browser.PickStreamAsync(app.PageUri, streamId);
            var (panelSelector, panel) = await OpenPanelAsync(page, streamId);
            await page.WaitForFunctionAsync($"() => Number(document.querySelector(\"{panelSelector}\").dataset.points) >= 3");
            Assert.Contains("first 8 of 16 shown", await panel.Locator(".filter-note").TextContentAsync());

            order = 32;
            await page.WaitForFunctionAsync($"() => document.querySelector(\"{panelSelector} .filter-note\").textContent.includes('of 32 shown')");

            // A new plot: its points count from the first answer of the new filter, not on from the old one's.
            Assert.True(int.Parse(await panel.GetAttributeAsync("data-points") ?? "0") <= 2, "the plot of order 16 went on for order 32");
            Assert.Equal(8, await panel.Locator(".filter-legend .key").CountAsync());
            Assert.Equal(1, await panel.Locator(".filter-chart canvas").CountAsync());
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    [Fact]
    public async Task An_answer_that_arrives_after_the_panel_is_closed_leaves_it_closed()
    {
        var streamId = app.StreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;

        // The bridge's answers replaced in the browser: the first at once, the second held until the panel is closed.
        var asked = 0;
        var secondAsked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseSecond = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await page.RouteAsync("**/streams/*/filter", async route =>
        {
            var n = Interlocked.Increment(ref asked);
            if (n == 2)
            {
                secondAsked.TrySetResult();
                await releaseSecond.Task;
            }
            await route.FulfillAsync(KalmanView(streamId, lastSeq: 6 + n, samplesProcessed: 256 * n));
        });
        try
        {
            await browser.PickStreamAsync(app.PageUri, streamId);
            var (panelSelector, panel) = await OpenPanelAsync(page, streamId);
            await page.WaitForSelectorAsync($"{panelSelector}[data-state='ok']");
            Assert.Equal("7", (await panel.Locator("[data-filter-field='last-seq']").TextContentAsync())!.Trim());

            // Closed while the second question is on its way; its answer then arrives and is read by the page.
            await secondAsked.Task.WaitAsync(Browser.Timeout);
            await panel.Locator("summary").ClickAsync();
            await page.WaitForSelectorAsync($"{panelSelector}[data-state='closed']");
            var answered = page.WaitForRequestFinishedAsync(new PageWaitForRequestFinishedOptions { Predicate = r => r.Url.EndsWith("/filter", StringComparison.Ordinal) });
            releaseSecond.TrySetResult();
            await answered;
            await page.EvaluateAsync("() => new Promise(resolve => setTimeout(resolve, 250))");

            Assert.Equal("closed", await panel.GetAttributeAsync("data-state"));
            Assert.Equal("7", (await panel.Locator("[data-filter-field='last-seq']").TextContentAsync())!.Trim());
            Assert.Equal(2, Volatile.Read(ref asked));

            // Opened again, it asks again and shows the new answer.
            await panel.Locator("summary").ClickAsync();
            await page.WaitForFunctionAsync($"() => document.querySelector(\"{panelSelector} [data-filter-field='last-seq']\").textContent.trim() === '9'");
            Assert.Equal("ok", await panel.GetAttributeAsync("data-state"));
        }
        finally
        {
            releaseSecond.TrySetResult();
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    [Fact]
    public async Task A_stream_the_processor_does_not_hold_shows_the_docs_words_and_the_panel_keeps_asking()
    {
        // Written straight to sample-output, so no processor instance holds it: the real bridge answers 404.
        var streamId = app.StreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;
        var asked = 0;
        page.RequestFinished += (_, request) =>
        {
            if (request.Url.EndsWith("/filter", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref asked);
            }
        };
        try
        {
            await browser.PickStreamAsync(app.PageUri, streamId);
            var (panelSelector, panel) = await OpenPanelAsync(page, streamId);
            await page.WaitForSelectorAsync($"{panelSelector}[data-state='not-found']");
            Assert.Equal("The processor does not hold this stream right now (no chunk yet, or idle); asking again.",
                (await panel.Locator("[data-filter-status]").TextContentAsync())!.Trim());

            // It asks again (about a second later) and still says so.
            var before = Volatile.Read(ref asked);
            await page.WaitForRequestFinishedAsync(new PageWaitForRequestFinishedOptions { Predicate = r => r.Url.EndsWith("/filter", StringComparison.Ordinal) });
            Assert.True(Volatile.Read(ref asked) > before);
            await page.WaitForSelectorAsync($"{panelSelector}[data-state='not-found']");
            Assert.Equal("0", await panel.GetAttributeAsync("data-points"));
            Assert.Equal(0, await panel.Locator(".filter-chart canvas").CountAsync());
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    /// <summary>
    /// The bridge's refusals, as it words them (WebSocketBridge/FilterState: its answers are FilterStateEndpointTests'),
    /// and a bridge that cannot be reached, replaced in the browser: the panel shows the problem's detail (or that the
    /// bridge cannot be reached), says it asks again, and does, so the next answer shows.
    /// </summary>
    [Theory]
    [InlineData(503, "busy", "The bridge asks the processor about at most 4 streams at once (Bridge:MaxFilterStateCalls); try again shortly.")]
    [InlineData(503, "unavailable", "The filter state is not available: the processor answered 500; try again.")]
    [InlineData(503, "unavailable", "The filter state is not available: the processor cannot be reached; try again.")]
    [InlineData(503, "timeout", "The processor did not answer within 2000 ms (Bridge:FilterStateTimeoutMilliseconds); try again.")]
    [InlineData(429, null, "One address may ask for filter states 600 times per minute (Bridge:FilterStateRequestsPerAddressPerMinute).")]
    [InlineData(0, null, null)] // the bridge cannot be reached at all: the request fails
    public async Task A_refusal_shows_its_detail_and_the_panel_keeps_asking(int status, string? reason, string? detail)
    {
        var streamId = app.StreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;
        var refused = true;
        var asked = 0;
        var askedAgain = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await page.RouteAsync("**/streams/*/filter", route =>
        {
            var n = Interlocked.Increment(ref asked);
            if (n >= 2)
            {
                askedAgain.TrySetResult();
            }

            if (Volatile.Read(ref refused) && status == 0)
            {
                return route.AbortAsync("connectionrefused");
            }

            if (Volatile.Read(ref refused))
            {
                var problem = new Dictionary<string, object> { ["title"] = status == 429 ? "Asking too often from this address" : "Filter state not available", ["status"] = status, ["detail"] = detail! };
                if (reason is not null)
                {
                    problem["reason"] = reason;
                }

                return route.FulfillAsync(new RouteFulfillOptions
                {
                    Status = status,
                    ContentType = "application/problem+json",
                    Headers = new Dictionary<string, string> { ["Retry-After"] = "1" },
                    Body = System.Text.Json.JsonSerializer.Serialize(problem),
                });
            }

            return route.FulfillAsync(KalmanView(streamId, lastSeq: n, samplesProcessed: 256));
        });
        try
        {
            await browser.PickStreamAsync(app.PageUri, streamId);
            var (panelSelector, panel) = await OpenPanelAsync(page, streamId);
            await page.WaitForSelectorAsync($"{panelSelector}[data-state='unavailable']");
            // docs/websocket-bridge.md, "The page": a 503 or 429 shows its detail, an unreachable bridge says so.
            Assert.Equal(detail is null ? "The bridge cannot be reached; asking again." : detail + " Asking again.",
                (await panel.Locator("[data-filter-status]").TextContentAsync())!.Trim());
            Assert.Equal("0", await panel.GetAttributeAsync("data-points"));

            // It asks again (a second later) and is refused again ...
            await askedAgain.Task.WaitAsync(Browser.Timeout);
            Assert.Equal("unavailable", await panel.GetAttributeAsync("data-state"));

            // ... and shows the state once the bridge has it.
            Volatile.Write(ref refused, false);
            await page.WaitForSelectorAsync($"{panelSelector}[data-state='ok']");
            Assert.True(await panel.Locator("[data-filter-status]").IsHiddenAsync());
            Assert.Equal("kalman", (await panel.Locator("[data-filter-field='algorithm']").TextContentAsync())!.Trim());
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    /// <summary>The bridge's 200 answer to <c>GET /streams/{id}/filter</c>, with the given view, for a replaced route.</summary>
    private static RouteFulfillOptions FilterView(string json)
        => new() { Status = 200, ContentType = "application/json", Body = json };

    /// <summary>A kalman stream's view on the deployment's default config (q 0.001, r 0.1), for a replaced route.</summary>
    private static RouteFulfillOptions KalmanView(string streamId, long lastSeq, long samplesProcessed)
        => FilterView($$$"""{"streamId":"{{{streamId}}}","lastSeq":{{{lastSeq}}},"config":{"algorithm":"kalman","params":{"q":0.001,"r":0.1},"source":"default","switchSeq":null},"filter":{"algorithm":"kalman","values":{"estimate":0.5,"errorVariance":0.01,"gain":0.1},"vectors":{},"samplesProcessed":{{{samplesProcessed}}}}}""");

    /// <summary>The stream's filter panel, opened (its summary clicked): its selector, for state waits, and its locator.</summary>
    private static async Task<(string Selector, ILocator Panel)> OpenPanelAsync(IPage page, string streamId)
    {
        var selector = $"[data-filter-panel='{streamId}']";
        var panel = page.Locator(selector);
        await panel.Locator("summary").ClickAsync();
        return (selector, panel);
    }
}
