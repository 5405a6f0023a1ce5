using System.Buffers.Binary;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace WebSocketBridge.Clients;

/// <summary>
/// What a <c>/ws</c> client sends, read through its bucket of Bridge:ClientMessagesPerSecond tokens (as deep as one second
/// of it): each WebSocket frame takes a token, whatever it is: a command, a fragment of one (even empty), a ping, a pong,
/// the close. The WebSocket answers pings and goes past empty fragments inside one <c>ReceiveAsync</c>, out of the
/// bridge's sight: counted as messages, either let one client take a core (docs/benchmarks.md, "Ping and fragment
/// floods"). Below the WebSocket, this stream sees every frame. A read is handed over only once each frame starting in
/// it has its token (the WebSocket reads headers 125 bytes at a time, so up to about 20 small frames wait together), and
/// nothing more is read meanwhile: the client's sends back up in Kestrel's read-ahead and then in TCP.
/// </summary>
internal sealed class ClientFrameThrottle(Stream transport, int framesPerSecond, BridgeMetrics metrics, TimeProvider time) : Stream
{
    private const int MaxHeaderBytes = 14;

    private readonly byte[] _header = new byte[MaxHeaderBytes];
    private readonly CancellationTokenSource _disposed = new();
    private int _headerCount;
    private long _payloadLeft;
    private double _tokens = framesPerSecond;
    private long _tokensAtMs = time.GetUtcNow().ToUnixTimeMilliseconds();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await transport.ReadAsync(buffer, cancellationToken);
        for (var frames = CountFrameStarts(buffer.Span[..read]); frames > 0; frames--)
        {
            await TakeTokenAsync(cancellationToken);
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Frames that start in <paramref name="bytes"/>, which follow the bytes already counted.</summary>
    private int CountFrameStarts(ReadOnlySpan<byte> bytes)
    {
        var starts = 0;
        while (!bytes.IsEmpty)
        {
            if (_payloadLeft > 0)
            {
                var skipped = (int)Math.Min(_payloadLeft, bytes.Length);
                _payloadLeft -= skipped;
                bytes = bytes[skipped..];
                continue;
            }

            if (_headerCount == 0)
            {
                starts++;
            }

            _header[_headerCount++] = bytes[0];
            bytes = bytes[1..];
            if (_headerCount >= 2 && _headerCount == HeaderLength())
            {
                _payloadLeft = PayloadLength();
                _headerCount = 0;
            }
        }

        return starts;
    }

    // RFC 6455 5.2: two bytes, then 2 or 8 bytes of extended length, then the 4-byte mask (a client masks every frame;
    // the WebSocket closes a connection whose frame is not masked).
    private int HeaderLength() => 2 + (_header[1] & 0x7F) switch { 126 => 2, 127 => 8, _ => 0 } + ((_header[1] & 0x80) != 0 ? 4 : 0);

    private long PayloadLength() => (_header[1] & 0x7F) switch
    {
        126 => BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(2)),
        127 => (long)(BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2)) & long.MaxValue),
        var length => length,
    };

    /// <summary>
    /// Takes a token, waiting for one if the bucket is empty. Refilled from the elapsed time when a frame comes, not by a
    /// TokenBucketRateLimiter's replenishment timer: that would be a timer firing 20 times a second for each of up to
    /// Bridge:MaxConnections mostly idle clients.
    /// </summary>
    private async ValueTask TakeTokenAsync(CancellationToken cancellationToken)
    {
        var rate = (double)framesPerSecond;
        var throttled = false;
        while (true)
        {
            var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
            _tokens = Math.Min(rate, _tokens + (nowMs - _tokensAtMs) * rate / 1000);
            _tokensAtMs = nowMs;
            if (_tokens >= 1)
            {
                _tokens--;
                return;
            }

            if (!throttled)
            {
                throttled = true;
                metrics.MessageThrottled();
            }

            // An aborted socket (send timeout, held frames) disposes this stream: the wait ends with it.
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling((1 - _tokens) * 1000 / rate)), time, waiting.Token);
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => transport.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => transport.WriteAsync(buffer, offset, count, cancellationToken);

    public override Task FlushAsync(CancellationToken cancellationToken) => transport.FlushAsync(cancellationToken);

    public override void Flush() => transport.Flush();

    public override void Write(byte[] buffer, int offset, int count) => transport.Write(buffer, offset, count);

    /// <summary>Not supported: the WebSocket reads asynchronously, and a read may wait for a token.</summary>
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Read asynchronously.");

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _disposed.Cancel();
            transport.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>
/// Puts every WebSocket the bridge accepts on a <see cref="ClientFrameThrottle"/>: the upgrade features are wrapped before
/// <c>UseWebSockets</c> takes them (it keeps the ones it finds when a request passes it), so the bridge still accepts with
/// ASP.NET Core's own handshake.
/// </summary>
internal sealed class ClientFrameThrottleStartupFilter(IOptions<BridgeOptions> options, BridgeMetrics metrics, TimeProvider time) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
            {
                context.Features.Set<IHttpUpgradeFeature>(new ThrottledUpgrade(upgrade, Throttle));
            }

            if (context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
            {
                context.Features.Set<IHttpExtendedConnectFeature>(new ThrottledConnect(connect, Throttle));
            }

            return nextMiddleware(context);
        });
        next(app);
    };

    private Stream Throttle(Stream transport) => new ClientFrameThrottle(transport, options.Value.ClientMessagesPerSecond, metrics, time);

    /// <summary>An HTTP/1.1 upgrade.</summary>
    private sealed class ThrottledUpgrade(IHttpUpgradeFeature inner, Func<Stream, Stream> throttle) : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public async Task<Stream> UpgradeAsync() => throttle(await inner.UpgradeAsync());
    }

    /// <summary>An HTTP/2 extended CONNECT (RFC 8441), the WebSocket of a browser that speaks HTTP/2 to the bridge.</summary>
    private sealed class ThrottledConnect(IHttpExtendedConnectFeature inner, Func<Stream, Stream> throttle) : IHttpExtendedConnectFeature
    {
        public bool IsExtendedConnect => inner.IsExtendedConnect;

        public string? Protocol => inner.Protocol;

        public async ValueTask<Stream> AcceptAsync() => throttle(await inner.AcceptAsync());
    }
}
