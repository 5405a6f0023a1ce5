using Microsoft.Extensions.Options;
using WebSocketBridge.Clients;

namespace WebSocketBridge.Streams;

/// <summary>
/// Beats at <see cref="BridgeOptions.FrameRate"/>: takes every stream's new data as shared frames and offers them to
/// the clients. Decoupled from the Kafka loop, so however many chunks arrive, each client gets at most one message
/// per beat.
/// </summary>
public sealed class FramePump(LiveStreamRegistry streams, ClientRegistry clients, HeldFrames held, IOptions<BridgeOptions> options, TimeProvider time)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / options.Value.FrameRate), time);
        var lastSweepMs = 0L;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
                var frames = streams.TakeFrames();
                if (frames.Length > 0)
                {
                    var tick = new FrameTick(nowMs, frames, held);
                    clients.Broadcast(tick);
                    tick.Release();
                }

                if (nowMs - lastSweepMs >= 1000)
                {
                    streams.RemoveSilent();
                    lastSweepMs = nowMs;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
