using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// Starts the whole AppHost once for the tests that share it. Derive and override <see cref="AppHostArgs"/> or
/// <see cref="Configure"/> for a differently configured app (each start costs seconds, so share where possible).
/// </summary>
public class AppHostFixture : IAsyncLifetime
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private DistributedApplication? _app;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The app has not started.");

    /// <summary>Command-line style AppHost arguments, e.g. <c>"Generator:Enabled=false"</c>.</summary>
    protected virtual string[] AppHostArgs => [];

    /// <summary>Last chance to change resources before the app is built.</summary>
    protected virtual void Configure(IDistributedApplicationTestingBuilder builder)
    {
    }

    public async Task InitializeAsync()
    {
        var builder = await DistributedApplicationTestingBuilder
            .CreateAsync<Projects.SignalPipeline_AppHost>(AppHostArgs)
            .WaitAsync(StartTimeout);

        foreach (var resource in builder.Resources.OfType<IResourceWithEnvironment>())
        {
            // No dashboard in tests: without this each service waits ~10 s at stop for a gone OTLP endpoint.
            resource.Annotations.Add(new EnvironmentCallbackAnnotation(env => env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "1000"));
        }

        Configure(builder);
        _app = await builder.BuildAsync().WaitAsync(StartTimeout);
        await _app.StartAsync().WaitAsync(StartTimeout);
    }

    public Task WaitForHealthyAsync(string resourceName, TimeSpan? timeout = null)
        => App.ResourceNotifications.WaitForResourceHealthyAsync(resourceName).WaitAsync(timeout ?? StartTimeout);

    public HttpClient CreateHttpClient(string resourceName, string? endpointName = null)
        => App.CreateHttpClient(resourceName, endpointName);

    public async Task<string> GetConnectionStringAsync(string resourceName)
        => await App.GetConnectionStringAsync(resourceName).AsTask().WaitAsync(DefaultTimeout)
           ?? throw new InvalidOperationException($"Resource '{resourceName}' has no connection string.");

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(DefaultTimeout);
            await _app.DisposeAsync();
        }
    }
}

/// <summary>Tests that share the default app (generator on, default settings).</summary>
[CollectionDefinition(Name)]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "AppHost";
}
