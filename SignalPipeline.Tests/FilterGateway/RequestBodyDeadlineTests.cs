using FilterGateway;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using SignalPipeline.Tests.FilterKafkaProcessor;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>
/// <see cref="RequestBodyDeadline"/>'s stream on its own: YARP reads a body with one token, so the deadline is linked to
/// it once, not once per read (a 16 MiB body is about a thousand reads). The deadline itself: GatewayEdgeTests.
/// </summary>
public sealed class RequestBodyDeadlineTests
{
    [Fact]
    public async Task ReadsWithTheSameTokenShareOneLinkedTokenAndANewTokenIsStillHonoured()
    {
        // What the body's reads are given underneath tells whether the deadline was linked anew for each one (a new
        // linked source, so a new token, per read) or once per token. Counting allocated bytes instead proved to
        // depend on the host (88 bytes a read in one CI run, none on the machine it was written on).
        using var meters = new TestMeterFactory();
        var deadline = new RequestBodyDeadline(Options.Create(new FilterGatewayOptions()), new GatewayMetrics(meters));
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpRequestBodyDetectionFeature>(new HasBody());
        context.Request.ContentLength = 1000;
        var inner = new TokenRecordingStream(new byte[2000 * 16]);
        context.Request.Body = inner;
        using var first = new CancellationTokenSource();
        using var second = new CancellationTokenSource();
        var readAfterCancel = -1;
        var read = 0;

        await deadline.InvokeAsync(context, async () =>
        {
            var body = context.Request.Body;
            var buffer = new byte[16].AsMemory();
            for (var i = 0; i < 1000; i++)
            {
                read += await body.ReadAsync(buffer, first.Token);
            }

            // The reads of YARP's cancelled token fail; a read with another token is bounded by that one, not the old.
            await first.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => read += await body.ReadAsync(buffer, first.Token));
            readAfterCancel = await body.ReadAsync(buffer, second.Token);
        }).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1000 * 16, read);
        Assert.Equal(16, readAfterCancel);
        // One token underneath for the thousand reads of one token (a linked source per read gave a thousand), each
        // cancellable (the deadline is in it), and another for the new token.
        var underneath = inner.Tokens;
        Assert.Single(underneath.Take(1000).Distinct());
        Assert.True(underneath[0].CanBeCanceled);
        Assert.NotEqual(underneath[0], underneath[^1]);
    }

    /// <summary>A MemoryStream (every read answered at once, a cancelled token honoured) that records each read's token.</summary>
    private sealed class TokenRecordingStream(byte[] buffer) : MemoryStream(buffer)
    {
        public List<CancellationToken> Tokens { get; } = [];

        public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            Tokens.Add(cancellationToken);
            return base.ReadAsync(destination, cancellationToken);
        }
    }

    private sealed class HasBody : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody => true;
    }
}
