using Microsoft.Playwright;
using Xunit.Abstractions;

namespace SignalPipeline.BrowserTests;

/// <summary>
/// How the live page answers the bridge closing its WebSocket (docs/websocket-bridge.md, "The page"): closed for what it
/// sent (1003, 1007, 1008, 1009) it says so and waits for the selection to change; any other close it retries, after 1 s
/// doubling to 8 s. The idle close is the real bridge's; the others are made in the browser on a socket to the real bridge
/// (a bridge stopped by its stop command under the AppHost once left the page's socket open and "live" for 90 s: its 1001
/// did not reach the page through the AppHost's proxy; so a socket that stays silent while <c>/streams</c> gets no answer
/// is given up, a test below), and the real stop and start under the AppHost, the last test.
/// </summary>
[Collection(LivePageApp.Collection)]
[Trait("Category", "AppHost")] // starts the whole AppHost (LivePageApp), as SignalPipeline.Tests' Category=AppHost tests do
public sealed class LivePageConnectionTests(LivePageApp app, ITestOutputHelper output)
{
    /// <summary>Longer than the page's first retry (1 s), so a page that retried on a refusing close would have by then.</summary>
    private const int LongerThanFirstRetryMs = 3000;

    [Fact]
    public async Task Closed_1008_for_idling_the_page_says_why_and_reconnects_only_when_the_selection_changes()
    {
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;

        // No streams listed, so the page selects none and its socket holds no subscription: the bridge closes it 1008
        // after Bridge:IdleTimeoutSeconds.
        string[] listed = [];
        await page.RouteAsync("**/streams", route => route.FulfillAsync(new RouteFulfillOptions
        {
            Status = 200,
            ContentType = "application/json",
            Body = System.Text.Json.JsonSerializer.Serialize(Volatile.Read(ref listed).Select(id => new { stream_id = id, algorithm = "lms", rate = 4000.0 })),
        }));
        var sockets = 0;
        page.WebSocket += (_, _) => Interlocked.Increment(ref sockets);
        try
        {
            await page.GotoAsync(app.PageUri.ToString());
            await page.WaitForSelectorAsync("#connection[data-state='open']");
            await page.WaitForSelectorAsync("#connection[data-state='closed']");
            Assert.Equal(
                $"closed by the bridge (idle: no subscription for {LivePageApp.IdleTimeoutSeconds} s (Bridge:IdleTimeoutSeconds)); change the selection to reconnect",
                (await page.Locator("#connection").TextContentAsync())!.Trim());

            // The wait a reconnect loop would take: the page stays closed on its one socket.
            await page.WaitForTimeoutAsync(LongerThanFirstRetryMs);
            Assert.Equal("closed", await page.Locator("#connection").GetAttributeAsync("data-state"));
            Assert.Equal(1, Volatile.Read(ref sockets));

            // A stream to show: the page selects it, connects again and gets its frames.
            Volatile.Write(ref listed, [app.StreamId]);
            await page.WaitForSelectorAsync("#connection[data-state='open']");
            Assert.Equal("live", (await page.Locator("#connection").TextContentAsync())!.Trim());
            Assert.Equal(2, Volatile.Read(ref sockets));
            await page.WaitForFunctionAsync("() => Number(document.body.dataset.frames) > 0");
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    /// <summary>
    /// The page's socket goes through Playwright to the real bridge; the test then closes it as the bridge would, with
    /// that code and reason (the bridge's own closes: 1001 at a stop, BridgeDocumentedAnswersTests; the rest in
    /// ClientCommandTests and BridgeLimitsTests). A refusing code leaves the page closed on its one socket; any other one
    /// makes it connect again, to the real bridge, and go on.
    /// </summary>
    [Theory]
    [InlineData(1001, "the bridge is shutting down", true)]
    [InlineData(1011, "", true)]
    [InlineData(1003, "binary messages are not accepted", false)]
    [InlineData(1007, "malformed JSON: test", false)]
    [InlineData(1008, "subscription limit: at most 256 streams per client (Bridge:MaxSubscriptionsPerClient)", false)]
    [InlineData(1009, "message over 4096 bytes", false)]
    public async Task A_close_the_page_did_not_cause_is_retried_and_one_refusing_what_it_sent_is_not(int code, string reason, bool reconnects)
    {
        var streamId = app.StreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;
        var sockets = 0;
        var firstSocket = new TaskCompletionSource<IWebSocketRoute>(TaskCreationOptions.RunContinuationsAsynchronously);
        await page.RouteWebSocketAsync("**/ws", ws =>
        {
            Interlocked.Increment(ref sockets);
            ws.ConnectToServer(); // with no handlers of its own, every message passes both ways as it is
            firstSocket.TrySetResult(ws);
        });
        try
        {
            await ShowStreamAndRecordConnectionTextsAsync(browser, streamId);

            await (await firstSocket.Task.WaitAsync(Browser.Timeout)).CloseAsync(new WebSocketRouteCloseOptions { Code = code, Reason = reason });
            var said = reason.Length > 0 ? $" ({reason})" : "";
            if (reconnects)
            {
                await page.WaitForFunctionAsync("() => window.connectionTexts.includes('live')");
                var texts = await page.EvaluateAsync<string[]>("() => window.connectionTexts");
                Assert.Equal([$"disconnected{said}; retrying", "connecting…", "live"], texts);
                Assert.Equal("open", await page.Locator("#connection").GetAttributeAsync("data-state"));
                Assert.Equal(2, Volatile.Read(ref sockets));
                var frames = int.Parse(await page.Locator("body").GetAttributeAsync("data-frames") ?? "0");
                await page.WaitForFunctionAsync("n => Number(document.body.dataset.frames) > n", frames);
            }
            else
            {
                await page.WaitForSelectorAsync("#connection[data-state='closed']");
                Assert.Equal($"closed by the bridge{said}; change the selection to reconnect", (await page.Locator("#connection").TextContentAsync())!.Trim());

                // The wait a retry would take: the page stays closed on its one socket.
                await page.WaitForTimeoutAsync(LongerThanFirstRetryMs);
                Assert.Equal("closed", await page.Locator("#connection").GetAttributeAsync("data-state"));
                Assert.Equal(1, Volatile.Read(ref sockets));
            }
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    /// <summary>
    /// A bridge gone behind a proxy that keeps the page's side of the socket open (seen under the AppHost): the socket stays
    /// open and brings nothing, and <c>/streams</c> gets no answer. The page gives that socket up after two unanswered polls
    /// and as long a silence, says so and connects again; while the bridge is away a new socket is closed at once and the
    /// page goes on retrying; once the bridge is back it is live again.
    /// </summary>
    [Fact]
    public async Task A_silent_socket_while_streams_gets_no_answer_is_given_up_and_the_page_connects_again()
    {
        var streamId = app.StreamId;
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;
        var gone = false;
        var sockets = 0;
        // While the bridge is gone /streams is never answered, as the AppHost's proxy did once the bridge process was killed
        // (it accepts the request and holds it); the page's own time limit ends each poll.
        await page.RouteAsync("**/streams", route => Volatile.Read(ref gone) ? Task.CompletedTask : route.ContinueAsync());
        await page.RouteWebSocketAsync("**/ws", ws =>
        {
            Interlocked.Increment(ref sockets);
            if (Volatile.Read(ref gone))
            {
                _ = ws.CloseAsync();
                return;
            }

            // What the bridge sends reaches the page only while it is there; what the page sends passes as it is.
            var server = ws.ConnectToServer();
            server.OnMessage(frame =>
            {
                if (!Volatile.Read(ref gone) && frame.Text is { } text) // the bridge sends text messages only
                {
                    ws.Send(text);
                }
            });
        });
        try
        {
            await ShowStreamAndRecordConnectionTextsAsync(browser, streamId);

            Volatile.Write(ref gone, true);
            await page.WaitForFunctionAsync("() => window.connectionTexts.includes('the bridge does not answer; retrying')");
            await page.WaitForFunctionAsync("() => window.connectionTexts.filter(t => t.startsWith('disconnected')).length > 0");
            Assert.True(Volatile.Read(ref sockets) >= 2, $"{sockets} sockets");
            var texts = await page.EvaluateAsync<string[]>("() => window.connectionTexts");
            Assert.Equal(["the bridge does not answer; retrying", "connecting…"], texts[..2]);

            Volatile.Write(ref gone, false);
            await page.WaitForSelectorAsync("#connection[data-state='open']");
            var frames = int.Parse(await page.Locator("body").GetAttributeAsync("data-frames") ?? "0");
            await page.WaitForFunctionAsync("n => Number(document.body.dataset.frames) > n", frames);
            Assert.Equal("live", (await page.Locator("#connection").TextContentAsync())!.Trim());
        }
        finally
        {
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
        }
    }

    /// <summary>
    /// The real case the test above stands in for: the bridge stopped with its Aspire stop command and started again,
    /// the page's socket and <c>/streams</c> going through the AppHost's proxy. Whether the bridge's 1001 reaches the page
    /// ("disconnected (1001 ...); retrying") or the proxy holds the socket open ("the bridge does not answer; retrying"),
    /// the page must stop showing "live" while the bridge is gone, keep retrying, and be live with new frames once it is back.
    /// </summary>
    [Fact]
    public async Task The_bridge_stopped_and_started_again_with_its_Aspire_commands_the_page_says_it_is_gone_and_goes_live_again()
    {
        await using var browser = await Browser.OpenAsync();
        var page = browser.Page;
        var stopped = false;
        try
        {
            await ShowStreamAndRecordConnectionTextsAsync(browser, app.StreamId);
            stopped = true;
            await app.StopBridgeAsync();
            await page.WaitForFunctionAsync(
                "() => window.connectionTexts.some(t => t.startsWith('disconnected') || t === 'the bridge does not answer; retrying')",
                null, new PageWaitForFunctionOptions { Timeout = 60_000 });
            Assert.NotEqual("live", (await page.Locator("#connection").TextContentAsync())!.Trim());

            stopped = false;
            await app.StartBridgeAsync();
            var frames = int.Parse(await page.Locator("body").GetAttributeAsync("data-frames") ?? "0");
            await page.WaitForFunctionAsync(
                "n => document.getElementById('connection').dataset.state === 'open' && Number(document.body.dataset.frames) > n",
                frames, new PageWaitForFunctionOptions { Timeout = 60_000 });
            Assert.Equal("live", (await page.Locator("#connection").TextContentAsync())!.Trim());
        }
        finally
        {
            output.WriteLine("Connection texts: " + string.Join(" | ", await page.EvaluateAsync<string[]?>("() => window.connectionTexts ?? []") ?? []));
            output.WriteLine("Browser console:" + Environment.NewLine + browser.Console);
            if (stopped)
            {
                // The other tests share this app and its bridge.
                await app.StartBridgeAsync();
            }
        }
    }

    /// <summary>
    /// Picks the stream, waits for its first frames, then records every text the connection status shows, in order, in
    /// <c>window.connectionTexts</c> (a retried close's text shows only until the retry starts).
    /// </summary>
    private async Task ShowStreamAndRecordConnectionTextsAsync(Browser browser, string streamId)
    {
        await browser.PickStreamAsync(app.PageUri, streamId);
        await browser.Page.WaitForFunctionAsync("() => Number(document.body.dataset.frames) > 0");
        await browser.Page.EvaluateAsync("""
            () => {
              const el = document.getElementById('connection');
              window.connectionTexts = [];
              new MutationObserver(() => window.connectionTexts.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
            }
            """);
    }
}
