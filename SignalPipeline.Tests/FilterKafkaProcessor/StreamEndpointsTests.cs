using System.Net;
using System.Text.Json;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Inspection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary><c>GET /streams</c> and <c>GET /streams/{id}</c> over HTTP, answered by a stepped stream thread.</summary>
public sealed class StreamEndpointsTests
{
    [Fact]
    public async Task TheOwnerAnswersWithTheStateOthersGet404AndBadPagingGets400()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        kit.Configure("w", """{"algorithm":"lms","params":{"order":4}}""");
        var instance = kit.Start("one");
        kit.Produce(StreamConfigKit.Chunks("w", 0, 3));
        kit.StepUntil(() => kit.Harness.OutputCount("w") == 3, instance);

        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(instance.Queries).AddSingleton(instance.Table).AddSingleton(new StreamInstance("one"));
        await using var app = builder.Build();
        app.MapStreamEndpoints();
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        using var show = JsonDocument.Parse(await Answered(instance, http.GetStringAsync(new Uri("/streams/w", UriKind.Relative))));
        var root = show.RootElement;
        Assert.Equal(2, root.GetProperty("lastSeq").GetInt64());
        Assert.Equal("lms", root.GetProperty("config").GetProperty("algorithm").GetString());
        Assert.Equal("stream-config", root.GetProperty("config").GetProperty("source").GetString());
        Assert.Equal(4, root.GetProperty("filter").GetProperty("vectors").GetProperty("weights").GetArrayLength());

        var missing = await Answered(instance, http.GetAsync(new Uri("/streams/nobody", UriKind.Relative)));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("not held by instance one (input partitions [0])", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var badPage = await http.GetAsync(new Uri("/streams?limit=0", UriKind.Relative)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.BadRequest, badPage.StatusCode);

        using var list = JsonDocument.Parse(await Answered(instance, http.GetStringAsync(new Uri("/streams?limit=5", UriKind.Relative))));
        Assert.Equal("w", list.RootElement.GetProperty("streams")[0].GetProperty("streamId").GetString());
        await app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>Steps the stream thread until the request is answered (it answers between batches).</summary>
    private static async Task<T> Answered<T>(StreamConfigKit.Instance instance, Task<T> request)
    {
        for (var i = 0; i < 500 && !request.IsCompleted; i++)
        {
            instance.Thread.Step(CancellationToken.None);
            await Task.Delay(10);
        }

        return await request.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
