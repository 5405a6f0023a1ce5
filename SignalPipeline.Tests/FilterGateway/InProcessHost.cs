using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace SignalPipeline.Tests.FilterGateway;

/// <summary>Runs a web app inside the test process on a free loopback port (fast: no AppHost needed).</summary>
public sealed class InProcessHost(WebApplication app) : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public WebApplication App { get; } = app;

    public Uri Address => new(App.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());

    public static async Task<InProcessHost> StartAsync(IDictionary<string, string?> settings,
        Action<WebApplicationBuilder> configure, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        configure(builder);
        var app = builder.Build();
        map(app);
        await app.StartAsync().WaitAsync(Timeout);
        return new InProcessHost(app);
    }

    public HttpClient CreateClient() => new() { BaseAddress = Address, Timeout = Timeout };

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync().WaitAsync(Timeout);
        await App.DisposeAsync();
    }
}
