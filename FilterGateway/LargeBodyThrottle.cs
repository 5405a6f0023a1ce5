using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace FilterGateway;

/// <summary>
/// Caps the bytes per second the large-body lane moves through this gateway instance, each direction apart
/// (FilterGateway:LargeRequestBytesPerSecond, shared by every large request): copying a 16 MiB body in and its answer
/// out costs the gateway ~35-40 ms of CPU at full speed (measured, docs/benchmarks.md, Abuse), which a few clients
/// sending such bodies in a loop turned into most of the gateway's CPU, at the expense of every small request. Reads of
/// a large request's body wait for their bytes' tokens (the client's upload is held back by TCP), as do writes of its
/// answer. Tokens are refilled every <see cref="Tick"/> by a timer of the host's <see cref="TimeProvider"/>.
/// </summary>
public sealed class LargeBodyThrottle : IDisposable
{
    /// <summary>How often the buckets are refilled, each time with a tenth of the second's bytes.</summary>
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);

    private readonly TokenBucketRateLimiter? _request, _response;
    private readonly ITimer? _timer;
    private readonly int _perTick;
    private readonly GatewayMetrics _metrics;

    public LargeBodyThrottle(IOptions<FilterGatewayOptions> options, TimeProvider time, GatewayMetrics metrics)
    {
        _metrics = metrics;
        var rate = options.Value.LargeRequestBytesPerSecond;
        if (rate <= 0)
        {
            return;
        }

        _perTick = (int)Math.Clamp(rate / 10, 1, int.MaxValue);
        (_request, _response) = (Bucket(_perTick), Bucket(_perTick));
        _timer = time.CreateTimer(_ =>
        {
            _request.TryReplenish();
            _response.TryReplenish();
        }, null, Tick, Tick);
    }

    /// <summary>Puts the large request's body and its answer's body behind the buckets (nothing when the cap is off).</summary>
    public void Apply(HttpContext context)
    {
        if (_request is null || _response is null)
        {
            return;
        }

        context.Request.Body = new ThrottledStream(context.Request.Body, _request, _perTick, _metrics, "request");
        context.Response.Body = new ThrottledStream(context.Response.Body, _response, _perTick, _metrics, "response");
    }

    private static TokenBucketRateLimiter Bucket(int perTick) => new(new TokenBucketRateLimiterOptions
    {
        TokenLimit = perTick,
        TokensPerPeriod = perTick,
        ReplenishmentPeriod = Tick,
        AutoReplenishment = false,
        QueueLimit = int.MaxValue,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
    });

    public void Dispose()
    {
        _timer?.Dispose();
        _request?.Dispose();
        _response?.Dispose();
    }

    /// <summary>A body stream whose reads and writes take one token per byte before they complete.</summary>
    /// <remarks>A bucket holds at most <paramref name="limit"/> tokens, so larger amounts are taken in parts.</remarks>
    private sealed class ThrottledStream(Stream inner, TokenBucketRateLimiter bucket, int limit, GatewayMetrics metrics, string direction) : Stream
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            await TakeAsync(read, cancellationToken);
            return read;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await TakeAsync(buffer.Length, cancellationToken);
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private async ValueTask TakeAsync(int bytes, CancellationToken cancellationToken)
        {
            metrics.LargeBodyBytes(bytes, direction);
            for (var left = bytes; left > 0;)
            {
                var take = Math.Min(left, limit);
                using var lease = await bucket.AcquireAsync(take, cancellationToken);
                left -= take;
            }
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => false;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
