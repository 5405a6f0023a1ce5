using Microsoft.Playwright;
using Xunit.Abstractions;

namespace SignalPipeline.BrowserTests;

/// <summary>
/// The live page as a person sees it: Debian's chromium driven by Playwright opens the bridge's page from the running
/// AppHost, picks a stream, and watches the chart fill and the figures show a rate. A screenshot is kept.
/// </summary>
[Collection(LivePageApp.Collection)]
[Trait("Category", "AppHost")] // starts the whole AppHost (LivePageApp), as SignalPipeline.Tests' Category=AppHost tests do
public sealed class LivePageTests(LivePageApp app, ITestOutputHelper output)
{
    [Fact]
    public async Task Picking_a_stream_shows_its_chart_updating_with_a_rate()
    {
        var streamId = app.StreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;

        try
        {
            await browser.PickStreamAsync(app.PageUri, streamId);
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
            var screenshot = await browser.ScreenshotAsync("live-page.png");
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
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    [Fact]
    public async Task Show_all_with_more_streams_than_the_bridge_allows_follows_256_and_keeps_its_connection()
    {
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;

        // The bridge's list as it would be with 300 streams of 200-character ids: their subscription is far over one
        // message (Bridge:MaxClientMessageBytes) and over Bridge:MaxSubscriptionsPerClient (256).
        var ids = Enumerable.Range(0, 300).Select(i => $"fake-{i:000}-{new string('x', 191)}").ToList();
        await RouteStreamsAsync(page, () => ids);
        var sockets = 0;
        page.WebSocket += (_, _) => Interlocked.Increment(ref sockets);
        try
        {
            await page.GotoAsync(app.PageUri.ToString());
            await page.WaitForSelectorAsync("#connection[data-state='open']");
            await page.Locator($"[data-stream-pick='{ids[0]}']").WaitForAsync();

            await page.Locator("#show-all").ClickAsync();
            await page.WaitForFunctionAsync("() => document.querySelectorAll('[data-stream-card]').length === 256");

            // The bridge took the subscription (sent in several messages): no close, no reconnect, for a few seconds.
            await page.WaitForTimeoutAsync(4000);
            Assert.Equal("open", await page.Locator("#connection").GetAttributeAsync("data-state"));
            Assert.Equal(1, Volatile.Read(ref sockets));
            Assert.Contains("Showing 256 of 300 streams", await page.Locator("#limit-note").TextContentAsync());
            Assert.True(await page.Locator("#limit-note").IsVisibleAsync());
            Assert.Equal(ids.Order(StringComparer.Ordinal).Take(256), await page.Locator("[data-stream-card]").EvaluateAllAsync<string[]>("cards => cards.map(c => c.dataset.streamCard)"));
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    [Fact]
    public async Task Streams_the_bridge_no_longer_lists_leave_the_picker_and_show_all_unless_selected()
    {
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;

        // The bridge's list before and after it forgot two streams (silent for Bridge:StreamTtlSeconds) and saw a new one.
        string[] before = ["fake-live-a", "fake-live-b", "fake-live-c", "fake-gone-x", "fake-gone-y"];
        string[] after = ["fake-live-a", "fake-live-b", "fake-live-c", "fake-live-d"];
        var listed = before;
        await RouteStreamsAsync(page, () => Volatile.Read(ref listed));
        try
        {
            await page.GotoAsync(app.PageUri.ToString());
            await page.Locator("[data-stream-pick='fake-gone-y']").WaitForAsync();
            await page.Locator("[data-stream-toggle='fake-gone-x']").CheckAsync();

            Volatile.Write(ref listed, after);
            await page.Locator("[data-stream-pick='fake-live-d']").WaitForAsync();

            // Before, every id ever listed stayed: the picker, "show all" and its count grew for as long as the page was open.
            await page.Locator("[data-stream-pick='fake-gone-y']").WaitForAsync(new() { State = WaitForSelectorState.Detached });
            Assert.Equal(["fake-gone-x", "fake-live-a", "fake-live-b", "fake-live-c", "fake-live-d"],
                await page.Locator("[data-stream-pick]").EvaluateAllAsync<string[]>("picks => picks.map(p => p.dataset.streamPick).sort()"));

            await page.Locator("#show-all").ClickAsync();
            await page.WaitForFunctionAsync("() => document.querySelectorAll('[data-stream-card]').length === 4");
            Assert.Equal(after, await page.Locator("[data-stream-card]").EvaluateAllAsync<string[]>("cards => cards.map(c => c.dataset.streamCard)"));
            await page.Locator("[data-stream-pick='fake-gone-x']").WaitForAsync(new() { State = WaitForSelectorState.Detached });
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    [Fact]
    public async Task Out_of_the_box_a_shown_stream_the_bridge_forgot_gives_its_place_to_the_next_listed()
    {
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;

        string[] before = ["fake-auto-a", "fake-auto-b", "fake-auto-c", "fake-auto-d"];
        string[] after = ["fake-auto-b", "fake-auto-c", "fake-auto-d", "fake-auto-e"];
        var listed = before;
        await RouteStreamsAsync(page, () => Volatile.Read(ref listed));
        const string Cards = "() => [...document.querySelectorAll('[data-stream-card]')].map(c => c.dataset.streamCard).join(',')";
        try
        {
            await page.GotoAsync(app.PageUri.ToString());
            await page.WaitForFunctionAsync($"() => ({Cards})() === 'fake-auto-a,fake-auto-b,fake-auto-c'");

            // Before, the first three seen stayed selected for as long as the page was open, a forgotten one a chart that
            // never moved.
            Volatile.Write(ref listed, after);
            await page.WaitForFunctionAsync($"() => ({Cards})() === 'fake-auto-b,fake-auto-c,fake-auto-d'");
            await page.Locator("[data-stream-pick='fake-auto-a']").WaitForAsync(new() { State = WaitForSelectorState.Detached });
            Assert.True(await page.Locator("[data-stream-toggle='fake-auto-d']").IsCheckedAsync());
            Assert.False(await page.Locator("[data-stream-toggle='fake-auto-e']").IsCheckedAsync());
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    /// <summary>Answers the page's <c>GET /streams</c> with the streams <paramref name="listed"/> names at each poll.</summary>
    private static Task RouteStreamsAsync(IPage page, Func<IEnumerable<string>> listed)
        => page.RouteAsync("**/streams", route => route.FulfillAsync(new RouteFulfillOptions
        {
            Status = 200,
            ContentType = "application/json",
            Body = System.Text.Json.JsonSerializer.Serialize(listed().Select(id => new { stream_id = id, algorithm = "kalman", rate = 1000.0 })),
        }));
}
