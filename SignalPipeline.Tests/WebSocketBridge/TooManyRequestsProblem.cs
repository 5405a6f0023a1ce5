using System.Net;
using System.Text.Json;
using SignalPipeline.Tests.FilterService;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>The bridge's 429 answers as docs/websocket-bridge.md gives them: problem+json naming the setting, with the RFC 6585 type.</summary>
internal static class TooManyRequestsProblem
{
    public const string Type = "https://tools.ietf.org/html/rfc6585#section-4";

    public static async Task AssertAsync(HttpResponseMessage response, string setting)
    {
        await FilterApi.AssertProblemAsync(response, HttpStatusCode.TooManyRequests, setting);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(json.RootElement.TryGetProperty("type", out var type), $"a 429 problem has no type: {json.RootElement}");
        Assert.Equal(Type, type.GetString());
    }
}
