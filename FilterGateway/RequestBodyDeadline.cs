using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using MinDataRate = Microsoft.AspNetCore.Server.Kestrel.Core.MinDataRate;

namespace FilterGateway;

/// <summary>
/// The gateway's own deadline for a forwarded request's body, FilterGateway:RequestBodyTimeout, shorter than the
/// services' (FilterService:RequestTimeout, 30 s): a client still sending its body then gets 408 from the gateway,
/// naming the setting. Without it the service answered 408 while YARP was still sending it the body; HttpClient waits
/// for the whole body to be sent before it hands over an HTTP/1.1 answer, so the send failed once the service closed
/// the connection and the client got 502, its own slowness reported as the service's failure. A body slower than
/// Kestrel's MinRequestBodyDataRate gets a 408 naming that (YARP's own 408 has no detail). A large body (over
/// FilterGateway:LargeRequestBytes, or undeclared) is held to FilterGateway:LargeBodyMinBytesPerSecond instead, which the
/// 408 names: the services hold it to their own rate with a longer grace, and the gateway must answer first, for the
/// same reason.
/// </summary>
public sealed class RequestBodyDeadline(IOptions<FilterGatewayOptions> options, GatewayMetrics metrics)
{
    public async Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true)
        {
            await next();
            return;
        }

        var settings = options.Value;
        var timeout = settings.RequestBodyTimeout;
        // A large body (declared over LargeRequestBytes, or undeclared) must keep up; Kestrel answers its read with 408.
        var rateSet = false;
        if (_largeBodyRate is not null && !(context.Request.ContentLength <= settings.LargeRequestBytes)
            && (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
            && context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = _largeBodyRate;
            rateSet = true;
        }

        using var deadline = new CancellationTokenSource(timeout);
        var body = context.Request.Body;
        using var timed = new DeadlineStream(body, deadline.Token);
        context.Request.Body = timed;
        try
        {
            await next();
        }
        finally
        {
            context.Request.Body = body;
        }

        if (context.Response.HasStarted
            || context.Features.Get<IForwarderErrorFeature>() is not { Error: ForwarderError.RequestBodyClient } error)
        {
            return;
        }

        string detail;
        if (timed.Expired)
        {
            detail = $"The request body did not arrive within {timeout.TotalSeconds:0.###} s (FilterGateway:RequestBodyTimeout): "
                + $"{Declared(context)} bytes declared.";
        }
        else if (TooSlow(error.Exception) is { } kestrel)
        {
            detail = rateSet
                ? $"The request body arrived at less than {settings.LargeBodyMinBytesPerSecond} bytes/s, the least for a body over "
                    + $"{settings.LargeRequestBytes} bytes (FilterGateway:LargeBodyMinBytesPerSecond, after "
                    + $"{settings.LargeBodyMinRateGracePeriod.TotalSeconds:0.###} s, FilterGateway:LargeBodyMinRateGracePeriod): {Declared(context)} bytes declared."
                : $"The request body arrived too slowly: {kestrel.Message}";
        }
        else
        {
            return;
        }

        context.Response.Clear();
        metrics.Rejected("body_timeout");
        UnreadBody.CloseAfterAnswer(context);
        await Results.Problem(detail, statusCode: StatusCodes.Status408RequestTimeout, title: "Request body too slow").ExecuteAsync(context);
    }

    /// <summary>
    /// What a large body is held to while it is forwarded (FilterGateway:LargeBodyMinBytesPerSecond; the services hold it
    /// to theirs once it has their large slot, with a longer grace, so the gateway answers first); null when off.
    /// Reading options.Value validates them first, so a bad grace is refused naming the setting.
    /// </summary>
    private readonly MinDataRate? _largeBodyRate = options.Value.LargeBodyMinBytesPerSecond > 0
        ? new MinDataRate(options.Value.LargeBodyMinBytesPerSecond, options.Value.LargeBodyMinRateGracePeriod)
        : null;

    private static string Declared(HttpContext context)
        => context.Request.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "an undeclared number of";

    /// <summary>Kestrel's MinRequestBodyDataRate refusal among YARP's exceptions (an aggregate when the request failed too).</summary>
    private static BadHttpRequestException? TooSlow(Exception? exception) => exception switch
    {
        BadHttpRequestException { StatusCode: StatusCodes.Status408RequestTimeout } slow => slow,
        AggregateException aggregate => aggregate.InnerExceptions.Select(TooSlow).FirstOrDefault(found => found is not null),
        null => null,
        _ => TooSlow(exception.InnerException),
    };

    /// <summary>The client's body, each read bounded by the deadline; past it every read fails and <see cref="Expired"/> is set.</summary>
    private sealed class DeadlineStream(Stream inner, CancellationToken deadline) : Stream
    {
        // YARP passes the same token to every read of one body: one linked source for it, not one per read (a 16 MiB
        // body is about a thousand reads).
        private CancellationTokenSource? _linked;
        private CancellationToken _linkedTo;

        public bool Expired { get; private set; }

        // Pooled, as Kestrel's own streams are: a read that waits for the client would otherwise box its state machine.
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.ReadAsync(buffer, Bounded(cancellationToken));
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                Expired = true;
                throw new BadHttpRequestException("The request body did not arrive within FilterGateway:RequestBodyTimeout.", StatusCodes.Status408RequestTimeout);
            }
        }

        /// <summary>A token cancelled by <paramref name="cancellationToken"/> or the deadline, whichever comes first.</summary>
        private CancellationToken Bounded(CancellationToken cancellationToken)
        {
            if (!cancellationToken.CanBeCanceled)
            {
                return deadline;
            }

            if (_linked is null || _linkedTo != cancellationToken)
            {
                _linked?.Dispose();
                _linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline);
                _linkedTo = cancellationToken;
            }

            return _linked.Token;
        }

        protected override void Dispose(bool disposing)
        {
            // The client's stream is Kestrel's: only the linked source is this stream's own.
            if (disposing)
            {
                _linked?.Dispose();
                _linked = null;
            }

            base.Dispose(disposing);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
