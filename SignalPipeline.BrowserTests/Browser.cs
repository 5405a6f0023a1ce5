using System.Text;
using Microsoft.Playwright;

namespace SignalPipeline.BrowserTests;

/// <summary>Debian's chromium driven by Playwright (PLATFORM.md), one page that records its console for the test output.</summary>
public sealed class Browser : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private Browser(IPlaywright playwright, IBrowser browser, IPage page)
    {
        _playwright = playwright;
        _browser = browser;
        Page = page;
        page.Console += (_, message) => Console.AppendLine($"[{message.Type}] {message.Text}");
        page.PageError += (_, error) => Console.AppendLine($"[pageerror] {error}");
    }

    public IPage Page { get; }

    public StringBuilder Console { get; } = new();

    public static async Task<Browser> OpenAsync()
    {
        var playwright = await Playwright.CreateAsync().WaitAsync(Timeout);
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            // Debian's chromium, never a downloaded build (PLATFORM.md); these flags work as root in a container.
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        }).WaitAsync(Timeout);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        page.SetDefaultTimeout((float)Timeout.TotalMilliseconds);
        return new Browser(playwright, browser, page);
    }

    /// <summary>Opens the live page, waits for its connection and clicks a stream's name, which shows only that stream.</summary>
    public async Task PickStreamAsync(Uri pageUri, string streamId)
    {
        await Page.GotoAsync(pageUri.ToString());
        await Page.WaitForSelectorAsync("#connection[data-state='open']");

        // The stream appears in the picker once the bridge has seen it.
        await Page.Locator($"[data-stream-pick='{streamId}']").ClickAsync();
    }

    /// <summary>A full-page screenshot under the test's output folder; returns its path.</summary>
    public async Task<string> ScreenshotAsync(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
