using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Says how many requests a stopping service leaves unanswered. Asked to stop, a service answers the requests it has
/// begun for up to <see cref="HostOptions.ShutdownTimeout"/> (30 s), then Kestrel closes the connections of those still
/// running and their clients see a reset, which Kestrel itself logs only at Debug ("Some connections failed to close
/// gracefully"). This counts the requests in the app, keeps counting those the end of that wait cut off (aborted at or
/// after it), and once the host has stopped logs one warning with their number (docs/filter-api.md, "Stopping"). The
/// number running at any time is ASP.NET Core's <c>http.server.active_requests</c>.
/// </summary>
internal sealed partial class UnansweredAtStop(IHostApplicationLifetime lifetime, IOptions<HostOptions> host, ILogger<UnansweredAtStop> logger)
    : IStartupFilter
{
    // Requests running, plus those the end of the shutdown wait cut off.
    private int _open;
    private long _stoppingAt = long.MaxValue;

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        var wait = host.Value.ShutdownTimeout;
        if (wait != Timeout.InfiniteTimeSpan)
        {
            lifetime.ApplicationStopping.Register(() => Volatile.Write(ref _stoppingAt, Stopwatch.GetTimestamp()));
            lifetime.ApplicationStopped.Register(() => Report(wait));
            app.Use(async (context, nextMiddleware) =>
            {
                Interlocked.Increment(ref _open);
                try
                {
                    await nextMiddleware(context);
                }
                finally
                {
                    if (!CutOffByTheWait(context, wait))
                    {
                        Interlocked.Decrement(ref _open);
                    }
                }
            });
        }

        next(app);
    };

    /// <summary>
    /// Aborted once the wait had (about) ended: the host's own timer starts just before ApplicationStopping, and Kestrel
    /// cancels a request's token from the thread pool, so the margin (a second, half a short wait) takes the two in.
    /// </summary>
    private bool CutOffByTheWait(HttpContext context, TimeSpan wait)
    {
        var stoppingAt = Volatile.Read(ref _stoppingAt);
        return stoppingAt != long.MaxValue && context.RequestAborted.IsCancellationRequested
            && Stopwatch.GetElapsedTime(stoppingAt) >= wait - TimeSpan.FromTicks(Math.Min(wait.Ticks / 2, TimeSpan.TicksPerSecond));
    }

    private void Report(TimeSpan wait)
    {
        var unanswered = Volatile.Read(ref _open);
        if (unanswered > 0)
        {
            LogUnanswered(logger, unanswered, wait.TotalSeconds);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Running} request(s) still running when the {Seconds} s shutdown wait " +
        "(HostOptions.ShutdownTimeout) ended: their connections are closed without an answer, and their clients see a reset")]
    private static partial void LogUnanswered(ILogger logger, int running, double seconds);
}
