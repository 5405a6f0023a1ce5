using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

public static class WebSocketBridgeExtensions
{
    /// <summary>The host port of the live page in run mode (http://127.0.0.1:5180); change it with this setting.</summary>
    public const string PortSetting = "WebSocketBridge:Port";
    public const int DefaultPort = 5180;

    /// <summary>
    /// <c>websocket-bridge</c>: reads the processor's output from <paramref name="kafka"/> and serves the live page and
    /// <c>/ws</c>. In run mode the page is on a fixed port so it can be bookmarked; the testing builder randomizes it.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddWebSocketBridge(
        this IDistributedApplicationBuilder builder, IResourceBuilder<IResourceWithConnectionString> kafka, [ResourceName] string name = "websocket-bridge")
    {
        var port = builder.ExecutionContext.IsRunMode ? builder.Configuration.GetValue(PortSetting, DefaultPort) : (int?)null;
        return builder.AddProject<Projects.WebSocketBridge>(name, options => options.ExcludeLaunchProfile = true)
            .WithHttpEndpoint(port: port, name: "http")
            .WithExternalHttpEndpoints()
            .WithKafka(kafka)
            .WithHttpHealthCheck("/health");
    }

    /// <summary>
    /// Lets the bridge show a stream's filter state (<c>GET /streams/{id}/filter</c>, the page's filter panel) by asking
    /// <paramref name="processor"/>'s <c>GET /streams/{id}</c>: <c>PROCESSOR_URL</c>, the name the CLI reads too.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithFilterStateFrom(
        this IResourceBuilder<ProjectResource> bridge, IResourceBuilder<ProjectResource> processor)
        => bridge.WithEnvironment("PROCESSOR_URL", processor.GetEndpoint("http"));
}
