using System.Threading.Channels;

namespace WebSocketBridge.Clients;

/// <summary>
/// A client's outgoing frames: bounded, and when full the oldest frame is dropped and counted, so a writer never waits
/// for a slow reader. Holds nothing but references to frames shared with other clients.
/// </summary>
public sealed class FrameQueue<T>
{
    private readonly Channel<T> _channel;
    private long _dropped;

    public FrameQueue(int capacity, Action<T>? dropped = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _channel = Channel.CreateBounded<T>(
            new BoundedChannelOptions(capacity)
            {
                FullMode = BoundedChannelFullMode.DropOldest,
                SingleReader = true,
                AllowSynchronousContinuations = false,
            },
            item =>
            {
                Interlocked.Increment(ref _dropped);
                dropped?.Invoke(item);
            });
    }

    /// <summary>Frames dropped so far because the reader fell behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public int Count => _channel.Reader.Count;

    /// <summary>Counts a frame that was never queued (the held beats over budget) as dropped.</summary>
    public void CountDropped() => Interlocked.Increment(ref _dropped);

    public ChannelReader<T> Reader => _channel.Reader;

    /// <summary>Queues <paramref name="item"/> without waiting, dropping the oldest if full; false once completed.</summary>
    public bool Offer(T item) => _channel.Writer.TryWrite(item);

    public void Complete() => _channel.Writer.TryComplete();
}
