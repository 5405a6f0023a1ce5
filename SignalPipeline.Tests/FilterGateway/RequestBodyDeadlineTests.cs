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
    public async Task ReadsWithTheSameTokenAllocateNothingEachAndANewTokenIsStillHonoured()
    {
        using var meters = new TestMeterFactory();
        var deadline = new RequestBodyDeadline(Options.Create(new FilterGatewayOptions()), new GatewayMetrics(meters));
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpRequestBodyDetectionFeature>(new HasBody());
        context.Request.ContentLength = 1000;
        // A MemoryStream answers every read at once, and honours a cancelled token.
        context.Request.Body = new MemoryStream(new byte[2000 * 16]);
        using var first = new CancellationTokenSource();
        using var second = new CancellationTokenSource();
        long allocated = -1;
        var readAfterCancel = -1;
        var read = 0;

        await deadline.InvokeAsync(context, async () =>
        {
            var body = context.Request.Body;
            var buffer = new byte[16].AsMemory();
            read += await body.ReadAsync(buffer, first.Token);
            // Every read here completes at once, on this thread: what it allocates is the stream's own.
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                read += await body.ReadAsync(buffer, first.Token);
            }

            allocated = GC.GetAllocatedBytesForCurrentThread() - before;

            // The reads of YARP's cancelled token fail; a read with another token is bounded by that one, not the old.
            await first.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => read += await body.ReadAsync(buffer, first.Token));
            readAfterCancel = await body.ReadAsync(buffer, second.Token);
        }).WaitAsync(TimeSpan.FromSeconds(30));

        // A linked source per read took 80 bytes each (80,000 here).
        Assert.True(allocated is >= 0 and < 1000, $"1000 reads allocated {allocated} bytes");
        Assert.Equal(1001 * 16, read);
        Assert.Equal(16, readAfterCancel);
    }

    private sealed class HasBody : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody => true;
    }
}
