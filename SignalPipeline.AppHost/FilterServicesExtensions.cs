using SignalPipeline.Filters;

namespace Aspire.Hosting;

/// <summary>The algorithm services (one deployment per algorithm, as in the guide) and the gateway in front of them.</summary>
public static class FilterServicesExtensions
{
    /// <summary>Adds filter-kalman, filter-rls, filter-ls and filter-gateway; returns the gateway for others to reference.</summary>
    public static IResourceBuilder<ProjectResource> AddFilterServices(this IDistributedApplicationBuilder builder)
    {
        // Every instance serves every algorithm; the gateway sends each algorithm to its own deployment (lms to filter-ls).
        // The deployments are the catalogue's (FilterRegistration.Service): filter-kalman, filter-rls, filter-ls.
        var services = FilterFactory.Registrations.Select(r => r.Service).Distinct().Select(builder.AddAlgorithmService).ToList();

        var gateway = builder.AddProject<Projects.FilterGateway>("filter-gateway")
            // The guide's clients call port 8000 (curl -X POST http://HOST:8000/kalman/audio/run).
            .WithHttpEndpoint(port: 8000)
            .WithExternalHttpEndpoints()
            .WithHttpHealthCheck("/health");
        foreach (var service in services)
        {
            gateway.WithReference(service).WaitFor(service);
        }

        // KALMAN_SERVICE_URL etc., passed through from the AppHost's configuration when set, so a user can redirect it from here.
        foreach (var setting in FilterFactory.Registrations.Select(r => r.ServiceUrlSetting))
        {
            if (builder.Configuration[setting] is { Length: > 0 } url)
            {
                gateway.WithEnvironment(setting, url);
            }
        }

        return gateway;
    }

    private static IResourceBuilder<ProjectResource> AddAlgorithmService(this IDistributedApplicationBuilder builder, string name)
        => builder.AddProject<Projects.FilterService>(name)
            .WithHttpEndpoint()
            .WithHttpHealthCheck("/health");
}
