using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// Starts the whole AppHost once for the tests that share it. Derive and override <see cref="AppHostArgs"/> or
/// <see cref="Configure"/> for a differently configured app (each start costs seconds, so share where possible).
/// The app always runs on the dev broker with inherited Kafka settings cleared (<see cref="TestAppHost"/>), and its log
/// (the services' console output included) goes to the output of the test that called <see cref="AppHostFixtureExtensions.WithTestOutput"/>.
/// </summary>
public class AppHostFixture : IAsyncLifetime
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private DistributedApplication? _app;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The app has not started.");

    /// <summary>The app's log, for the test output.</summary>
    public TestOutputLog Log { get; } = new();

    /// <summary>Command-line style AppHost arguments, e.g. <c>"Generator:Enabled=false"</c>.</summary>
    protected virtual string[] AppHostArgs => [];

    /// <summary>Last chance to change resources before the app is built.</summary>
    protected virtual void Configure(IDistributedApplicationTestingBuilder builder)
    {
    }

    public async Task InitializeAsync()
    {
        var builder = await TestAppHost.CreateBuilderAsync(StartTimeout, AppHostArgs);
        builder.Services.AddLogging(logging => logging.AddProvider(Log));
        TestAppHost.ClearInheritedKafkaEnvironment(builder);

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

public static class AppHostFixtureExtensions
{
    /// <summary>
    /// Sends the app's log to this test's output; called where the test class is constructed:
    /// <c>class T(AppHostFixture shared, ITestOutputHelper output) { private readonly AppHostFixture fixture = shared.WithTestOutput(output); }</c>.
    /// </summary>
    public static T WithTestOutput<T>(this T fixture, ITestOutputHelper output) where T : AppHostFixture
    {
        fixture.Log.WriteTo(output);
        return fixture;
    }
}

/// <summary>Tests that share the default app (generator on, default settings).</summary>
[CollectionDefinition(Name)]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "AppHost";
}
