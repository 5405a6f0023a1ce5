namespace Aspire.Hosting;

/// <summary>The algorithm services (one deployment per algorithm, as in the guide) and the gateway in front of them.</summary>
public static class FilterServicesExtensions
{
    /// <summary>Gateway settings passed through from the AppHost's configuration when set, so a user can redirect it from here.</summary>
    private static readonly string[] ServiceUrlSettings = ["KALMAN_SERVICE_URL", "RLS_SERVICE_URL", "LS_SERVICE_URL", "LMS_SERVICE_URL"];

    /// <summary>Adds filter-kalman, filter-rls, filter-ls and filter-gateway; returns the gateway for others to reference.</summary>
    public static IResourceBuilder<ProjectResource> AddFilterServices(this IDistributedApplicationBuilder builder)
    {
        // Every instance serves every algorithm; the gateway sends each algorithm to its own deployment (lms to filter-ls).
        var kalman = builder.AddFilterService("filter-kalman");
        var rls = builder.AddFilterService("filter-rls");
        var ls = builder.AddFilterService("filter-ls");

        var gateway = builder.AddProject<Projects.FilterGateway>("filter-gateway")
            // The guide's clients call port 8000 (curl -X POST http://HOST:8000/kalman/audio/run).
            .WithHttpEndpoint(port: 8000)
            .WithExternalHttpEndpoints()
            .WithHttpHealthCheck("/health")
            .WithReference(kalman).WaitFor(kalman)
            .WithReference(rls).WaitFor(rls)
            .WithReference(ls).WaitFor(ls);

        foreach (var setting in ServiceUrlSettings)
        {
            if (builder.Configuration[setting] is { Length: > 0 } url)
            {
                gateway.WithEnvironment(setting, url);
            }
        }

        return gateway;
    }

    private static IResourceBuilder<ProjectResource> AddFilterService(this IDistributedApplicationBuilder builder, string name)
        => builder.AddProject<Projects.FilterService>(name)
            .WithHttpEndpoint()
            .WithHttpHealthCheck("/health");
}
