namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// A client that sends <c>Expect: 100-continue</c> and waits for the server's go far longer than any queue timeout of
/// the tests (30 s), so that a refusal reaches it before it sends its body (docs/filter-api.md, "Large bodies, a few at
/// a time"), and a body of zeros that says whether it was sent.
/// </summary>
internal static class ContinuingUpload
{
    public static HttpClient Client(Uri address, TimeSpan timeout)
        => new(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(30) }) { BaseAddress = address, Timeout = timeout };

    /// <summary><c>POST /kalman/audio/run</c> of <paramref name="body"/> as binary samples, asking to continue.</summary>
    public static HttpRequestMessage Post(Body body)
    {
        body.Headers.ContentType = new("application/octet-stream");
        var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/run") { Content = body };
        request.Headers.ExpectContinue = true;
        return request;
    }

    /// <summary>Zeros of a given length; says whether the client began sending them.</summary>
    internal sealed class Body(long length) : HttpContent
    {
        public bool Sent { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            Sent = true;
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < length; sent += chunk.Length)
            {
                await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, length - sent)));
            }
        }

        protected override bool TryComputeLength(out long computed)
        {
            computed = length;
            return true;
        }
    }
}
