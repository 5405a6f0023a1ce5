namespace WebSocketBridge.Streams;

/// <summary>
/// One beat of the frame pump: every stream's new data, shared by all clients. While anyone holds it (the pump during
/// its broadcast, a client's queue, a client's send) its bytes, the frames' values and the payloads written from them,
/// count in <see cref="HeldFrames"/>; the last <see cref="Release"/> gives them back.
/// </summary>
public sealed class FrameTick
{
    private readonly HeldFrames? _held;
    private long _bytes;
    private int _holders = 1;

    /// <param name="createdMs">When the pump took the frames (Unix ms).</param>
    /// <param name="frames">Every stream's new data.</param>
    /// <param name="held">The ledger this beat counts in, or null (not counted); the creator holds the beat until it calls <see cref="Release"/>.</param>
    public FrameTick(long createdMs, StreamFrame[] frames, HeldFrames? held = null)
    {
        CreatedMs = createdMs;
        Frames = frames;
        _held = held;
        foreach (var frame in frames)
        {
            _bytes += frame.ValueBytes;
        }

        held?.Add(_bytes);
    }

    /// <summary>When the pump took the frames (Unix ms).</summary>
    public long CreatedMs { get; }

    public StreamFrame[] Frames { get; }

    /// <summary>The frames' values and the payloads written so far.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary><paramref name="frame"/>'s payload at <paramref name="resolution"/>; one written now counts in the beat's bytes. Call it only while holding the beat.</summary>
    public byte[] Payload(StreamFrame frame, int resolution)
    {
        var payload = frame.GetPayload(resolution, out var written);
        if (written > 0)
        {
            Interlocked.Add(ref _bytes, written);
            _held?.Add(written);
        }

        return payload;
    }

    /// <summary>One more holder (a client's queue); each is given back with <see cref="Release"/>.</summary>
    public void Retain() => Interlocked.Increment(ref _holders);

    public void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0)
        {
            _held?.Add(-Interlocked.Read(ref _bytes));
        }
    }
}
