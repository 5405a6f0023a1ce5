using System.Net;
using SignalPipeline.Tests.FilterService;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>The bridge's 429 answers as docs/websocket-bridge.md gives them: problem+json naming the setting, with the RFC 6585 type.</summary>
internal static class TooManyRequestsProblem
{
    public static Task AssertAsync(HttpResponseMessage response, string setting)
        => FilterApi.AssertProblemAsync(response, HttpStatusCode.TooManyRequests, setting, FilterApi.TooManyRequestsType);
}
