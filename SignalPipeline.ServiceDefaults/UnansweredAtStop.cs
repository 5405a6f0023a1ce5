using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Says how many requests a stopping service leaves unanswered. Asked to stop, a service answers the requests it has
/// begun for up to <see cref="HostOptions.ShutdownTimeout"/> (30 s), then Kestrel closes the connections of those still
/// running and their clients see a reset, which Kestrel itself logs only at Debug ("Some connections failed to close
/// gracefully"). This counts the requests in the app and, when that wait ends with some still running, logs one warning
/// with their number (docs/filter-api.md, "Stopping"). The number running at any time is ASP.NET Core's
/// <c>http.server.active_requests</c>.
/// </summary>
internal sealed partial class UnansweredAtStop(IHostApplicationLifetime lifetime, IOptions<HostOptions> host, ILogger<UnansweredAtStop> logger)
    : IStartupFilter
{
    private int _running;

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        var wait = host.Value.ShutdownTimeout;
        if (wait != Timeout.InfiniteTimeSpan)
        {
            // The host starts its own timer of the same length just before it raises ApplicationStopping.
            lifetime.ApplicationStopping.Register(() =>
            {
                var ended = new CancellationTokenSource(wait);
                ended.Token.Register(() => Report(wait));
                lifetime.ApplicationStopped.Register(ended.Dispose);
            });
        }

        app.Use(async (context, nextMiddleware) =>
        {
            Interlocked.Increment(ref _running);
            try
            {
                await nextMiddleware(context);
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        });
        next(app);
    };

    private void Report(TimeSpan wait)
    {
        var running = Volatile.Read(ref _running);
        if (running > 0)
        {
            LogUnanswered(logger, running, wait.TotalSeconds);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Running} request(s) still running when the {Seconds} s shutdown wait " +
        "(HostOptions.ShutdownTimeout) ended: their connections are closed without an answer, and their clients see a reset")]
    private static partial void LogUnanswered(ILogger logger, int running, double seconds);
}
