using Microsoft.Extensions.Options;

namespace WebSocketBridge.Streams;

/// <summary>
/// The bytes of the beats that clients hold, queued or being sent (<c>Bridge:MaxHeldFrameBytes</c>). Each client's queue
/// is bounded, but a stalled client keeps the beat it was sending, and its queue the last beats of its streams, for up
/// to Bridge:SendTimeoutSeconds; many such clients, each on another beat, add up. Past the budget the pump offers a
/// new beat only to the clients that keep up and disconnects the ones stalled in a send (<see cref="Clients.ClientRegistry.Broadcast"/>).
/// </summary>
public sealed class HeldFrames
{
    private long _bytes;

    public HeldFrames(IOptions<BridgeOptions> options, BridgeMetrics metrics)
        : this(options.Value.MaxHeldFrameBytes) => metrics.ObserveHeldFrames(() => Bytes);

    public HeldFrames(long maxBytes) => MaxBytes = maxBytes;

    public long MaxBytes { get; }

    public long Bytes => Interlocked.Read(ref _bytes);

    public bool IsOver => Bytes > MaxBytes;

    internal void Add(long bytes) => Interlocked.Add(ref _bytes, bytes);
}
