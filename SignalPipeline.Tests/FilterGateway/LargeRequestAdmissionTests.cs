using System.Diagnostics.Metrics;
using FilterGateway;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>Which requests the gateway's lane for large bodies takes, on the lane alone (no server).</summary>
public sealed class LargeRequestAdmissionTests
{
    [Theory]
    [InlineData(null, true, true)] // a body of undeclared length: chunked, or HTTP/2 without Content-Length (no Transfer-Encoding)
    [InlineData(null, false, false)] // no body at all
    [InlineData(2L * 1024 * 1024 + 1, true, true)]
    [InlineData(2L * 1024 * 1024, true, false)]
    public async Task ABodyOfUndeclaredLengthIsLargeAndOneThatCannotBeIsNot(long? contentLength, bool canHaveBody, bool large)
    {
        // One slot, no queue: with the slot taken, a large request is refused (503) and a small one passes.
        using var services = new ServiceCollection().AddLogging().AddMetrics().AddProblemDetails().BuildServiceProvider();
        var options = Options.Create(new FilterGatewayOptions { MaxConcurrentLargeRequests = 1, LargeRequestQueueLimit = 0, MaxLargeRequestsPerAddress = 16 });
        using var lane = new LargeRequestAdmission(options, new GatewayMetrics(services.GetRequiredService<IMeterFactory>()));
        var release = new TaskCompletionSource();
        var holder = lane.InvokeAsync(Request(services, 16L << 20, canHaveBody: true), () => release.Task);

        var forwarded = false;
        var request = Request(services, contentLength, canHaveBody);
        await lane.InvokeAsync(request, () =>
        {
            forwarded = true;
            return Task.CompletedTask;
        });
        release.SetResult();
        await holder;

        Assert.Equal((!large, large ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK), (forwarded, request.Response.StatusCode));
    }

    private static DefaultHttpContext Request(IServiceProvider services, long? contentLength, bool canHaveBody)
    {
        var context = new DefaultHttpContext { RequestServices = services };
        context.Request.Method = HttpMethods.Post;
        context.Request.ContentLength = contentLength;
        context.Features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection(canHaveBody));
        context.Response.Body = new MemoryStream();
        return context;
    }

    private sealed class BodyDetection(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody { get; } = canHaveBody;
    }
}
