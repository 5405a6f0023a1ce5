using FilterKafkaProcessor.Directory;
using FilterKafkaProcessor.Inspection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// One processor instance's <c>/streams</c> endpoints over HTTP on a random port, served by a stepped stream thread of a
/// <see cref="StreamConfigKit"/>, with the instance directory the test fills in (what the directory topic would say).
/// </summary>
public sealed class StreamHttpHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private StreamHttpHost(WebApplication app, string id, InstanceDirectory directory)
    {
        _app = app;
        Id = id;
        Directory = directory;
        Url = app.Urls.First();
        Http = new HttpClient { BaseAddress = new Uri(Url) };
    }

    public string Id { get; }

    public string Url { get; }

    public InstanceDirectory Directory { get; }

    public HttpClient Http { get; }

    /// <summary>The host's services (its meter factory, for the endpoints' metrics).</summary>
    public IServiceProvider Services => _app.Services;

    public static async Task<StreamHttpHost> StartAsync(StreamConfigKit.Instance instance, string id, InstanceDirectory directory, InstanceDirectoryOptions? options = null)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var self = new StreamInstance(id);
        builder.Services.AddSingleton(instance.Queries).AddSingleton(instance.Table).AddSingleton(self).AddSingleton(directory)
            .AddSingleton<DirectoryTelemetry>()
            .AddSingleton(new StreamLookup(directory, self, options ?? new InstanceDirectoryOptions()));
        var app = builder.Build();
        app.MapStreamEndpoints();
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return new StreamHttpHost(app, id, directory);
    }

    /// <summary>Puts this instance in its directory as announcing <paramref name="partitions"/> now.</summary>
    public InstanceEntry Entry(IEnumerable<int> partitions) => new(Id, Url, [.. partitions.Order()], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    /// <summary>Steps the stream threads until the request is answered (they answer between batches).</summary>
    public static async Task<T> Answered<T>(Task<T> request, params StreamConfigKit.Instance[] instances)
    {
        for (var i = 0; i < 1000 && !request.IsCompleted; i++)
        {
            foreach (var instance in instances)
            {
                instance.Thread.Step(CancellationToken.None);
            }

            await Task.Delay(10);
        }

        return await request.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _app.DisposeAsync();
    }
}
