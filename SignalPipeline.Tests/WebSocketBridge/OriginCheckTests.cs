using Microsoft.AspNetCore.Http;
using WebSocketBridge;

namespace SignalPipeline.Tests.WebSocketBridge;

public sealed class OriginCheckTests
{
    [Theory]
    [InlineData("", new string[0], true)]                                            // not a browser
    [InlineData("http://127.0.0.1:5180", new string[0], true)]                       // the page itself
    [InlineData("http://evil.example", new string[0], false)]
    [InlineData("http://127.0.0.1:9999", new string[0], false)]                      // another port is another origin
    [InlineData("https://dash.example", new[] { "https://dash.example/" }, true)]
    [InlineData("https://DASH.example", new[] { "https://dash.example" }, true)]
    [InlineData("http://evil.example", new[] { "*" }, true)]
    [InlineData("null", new string[0], false)]
    public void Same_origin_and_listed_origins_are_allowed(string origin, string[] allowed, bool expected)
    {
        var context = new DefaultHttpContext();
        context.Request.Host = new HostString("127.0.0.1:5180");

        Assert.Equal(expected, BridgeEndpoints.IsOriginAllowed(origin, context.Request, allowed));
    }
}
