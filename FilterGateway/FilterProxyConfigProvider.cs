using Microsoft.Extensions.Options;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;
using SignalPipeline.Filters;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;

namespace FilterGateway;

/// <summary>
/// The gateway's routes: <c>/kalman/**</c>, <c>/rls/**</c>, <c>/ls/**</c>, <c>/lms/**</c> to the matching service, and
/// <c>GET /algorithms</c> (any service answers it; it goes to the first algorithm's, kalman). Built once from the validated settings.
/// </summary>
public sealed class FilterProxyConfigProvider(IOptions<ServiceUrlOptions> urls, IOptions<FilterGatewayOptions> gateway) : IProxyConfigProvider
{
    private readonly FilterProxyConfig _config = Build(urls.Value, gateway.Value);

    public IProxyConfig GetConfig() => _config;

    public static FilterProxyConfig Build(ServiceUrlOptions urls, FilterGatewayOptions gateway)
    {
        // One cluster per algorithm of the catalogue; lms has no deployment of its own (FilterRegistration.Service), and
        // LS_SERVICE_URL is not used for it because a remote ls service (the original ones) need not know lms.
        ClusterConfig[] clusters = [.. FilterFactory.Registrations.Select(r => Cluster(r.Name, urls.AddressOf(r), gateway))];

        RouteConfig[] routes =
        [
            .. clusters.Select(c => new RouteConfig
            {
                RouteId = c.ClusterId,
                ClusterId = c.ClusterId,
                Match = new RouteMatch { Path = $"/{c.ClusterId}/{{**rest}}" },
            }),
            new RouteConfig
            {
                RouteId = "algorithms",
                ClusterId = clusters[0].ClusterId,
                Match = new RouteMatch { Path = "/algorithms", Methods = ["GET"] },
            },
        ];

        return new FilterProxyConfig(routes, clusters);
    }

    private static ClusterConfig Cluster(string algorithm, string address, FilterGatewayOptions gateway) => new()
    {
        ClusterId = algorithm,
        Destinations = new Dictionary<string, DestinationConfig>
        {
            [algorithm] = new() { Address = address },
        },
        HealthCheck = new HealthCheckConfig
        {
            // A dead destination is left out, even the only one: the gateway then answers 503 at once rather than
            // holding requests against it. Unknown (not yet probed) destinations get traffic.
            AvailableDestinationsPolicy = HealthCheckConstants.AvailableDestinations.HealthyAndUnknown,
            Active = new ActiveHealthCheckConfig
            {
                Enabled = true,
                Interval = gateway.HealthCheckInterval,
                Timeout = gateway.HealthCheckTimeout,
                // Any answer below 500 is alive, so a destination without /health (an original remote service) is not excluded.
                Policy = ReachableHealthPolicy.PolicyName,
                Path = "/health",
            },
        },
        HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig
        {
            // A service stops a request after FilterService:RequestTimeout (30 s); a destination silent for longer is gone.
            ActivityTimeout = gateway.ForwardActivityTimeout,
        },
    };
}

public sealed class FilterProxyConfig(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters) : IProxyConfig
{
    public IReadOnlyList<RouteConfig> Routes { get; } = routes;

    public IReadOnlyList<ClusterConfig> Clusters { get; } = clusters;

    // The routes never change while the gateway runs.
    public IChangeToken ChangeToken { get; } = NullChangeToken.Singleton;
}
