using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Directory;
using FilterKafkaProcessor.Inspection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Tests.Infrastructure;

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

        await using var host = await StreamHttpHost.StartAsync(instance, "one", new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System));
        var http = host.Http;

        using var show = JsonDocument.Parse(await Answered(instance, http.GetStringAsync(new Uri("/streams/w", UriKind.Relative))));
        var root = show.RootElement;
        Assert.Equal(2, root.GetProperty("lastSeq").GetInt64());
        Assert.Equal("lms", root.GetProperty("config").GetProperty("algorithm").GetString());
        Assert.Equal("stream-config", root.GetProperty("config").GetProperty("source").GetString());
        Assert.Equal(4, root.GetProperty("filter").GetProperty("vectors").GetProperty("weights").GetArrayLength());

        var missing = await Answered(instance, http.GetAsync(new Uri("/streams/nobody", UriKind.Relative)));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("not held by instance one (input partitions [0]) (no other live instance in the directory)", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var badPage = await http.GetAsync(new Uri("/streams?limit=0", UriKind.Relative)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.BadRequest, badPage.StatusCode);

        // Values that are no number or no boolean: a problem naming them (before 2026-12-04, ASP.NET's 400 without a body).
        foreach (var (query, named) in new[] { ("/streams?limit=abc", "limit=abc"), ("/streams?offset=99999999999999999999", "offset=99999999999999999999"), ("/streams/w?local=maybe", "local=maybe") })
        {
            using var bad = await http.GetAsync(new Uri(query, UriKind.Relative)).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
            Assert.Contains(named, await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var list = JsonDocument.Parse(await Answered(instance, http.GetStringAsync(new Uri("/streams?limit=5", UriKind.Relative))));
        Assert.Equal("w", list.RootElement.GetProperty("streams")[0].GetProperty("streamId").GetString());
    }

    [Fact]
    public async Task AQuestionTheStreamThreadDoesNotAnswerIsA503StreamThreadBusyAndCounted()
    {
        using var kit = new StreamConfigKit(partitions: 1);
        var instance = kit.Start("one");
        await using var host = await StreamHttpHost.StartAsync(instance, "one", new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System));
        using var unanswered = DocumentedMetric.Collect<long>(host.Services.GetRequiredService<IMeterFactory>(), ProcessorTelemetry.Name,
            "signalpipeline.processor.stream_queries.unanswered");

        // The stream thread is not stepped: like one busy with a long restore, it answers nothing (AnswerTimeout, 5 s).
        using var busy = await host.Http.GetAsync(new Uri("/streams/w?local=true", UriKind.Relative)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
        Assert.Equal("application/problem+json", busy.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Stream thread busy", await busy.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, unanswered.AssertDocumented(typeof(Counter<>), "{request}").Sum(("reason", "timeout")));

        // Past StreamQueries.MaxPending waiting questions a question is refused at once (reason=full). A question that timed
        // out stays queued, and counted, until the stream thread answers it: that one and MaxPending - 1 more wait, the
        // rest are refused.
        const int Extra = 10;
        var answers = await Task.WhenAll(Enumerable.Range(0, StreamQueries.MaxPending - 1 + Extra)
            .Select(_ => host.Http.GetAsync(new Uri("/streams/w?local=true", UriKind.Relative)))).WaitAsync(TimeSpan.FromSeconds(120));
        try
        {
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a.StatusCode));
            Assert.Equal(Extra, unanswered.Sum(("reason", "full")));
            Assert.Equal(StreamQueries.MaxPending, unanswered.Sum(("reason", "timeout")));
        }
        finally
        {
            Array.ForEach(answers, a => a.Dispose());
        }
    }

    [Fact]
    public async Task AnyStreamIdEscapedInThePathIsFoundAsItIs()
    {
        // "a/b" and "a%2Fb" side by side: routing leaves %2F encoded, so both would arrive as "a%2Fb".
        string[] ids = ["a/b", "a%2Fb", "/", "50% off", "what?", "x#1", "é€ 日本/ü", "%FF"];
        using var kit = new StreamConfigKit(partitions: 1);
        var instance = kit.Start("one");
        foreach (var id in ids)
        {
            kit.Produce(StreamConfigKit.Chunks(id, 0, 1));
        }

        kit.StepUntil(() => ids.All(id => kit.Harness.OutputCount(id) == 1), instance);

        await using var host = await StreamHttpHost.StartAsync(instance, "one", new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System));
        foreach (var id in ids)
        {
            var path = new Uri("/streams/" + Uri.EscapeDataString(id), UriKind.Relative);
            using var show = JsonDocument.Parse(await Answered(instance, host.Http.GetStringAsync(path)));
            Assert.Equal(id, show.RootElement.GetProperty("streamId").GetString());
        }

        // What a lookup from another instance asks (with a query) finds it too.
        var local = new Uri("/streams/" + Uri.EscapeDataString("a/b") + "?local=true", UriKind.Relative);
        using var held = JsonDocument.Parse(await Answered(instance, host.Http.GetStringAsync(local)));
        Assert.Equal("a/b", held.RootElement.GetProperty("streamId").GetString());

        // %FF is no UTF-8: no client escapes any text so, and Kestrel would leave it as the text "%FF", another stream.
        using var invalid = await Answered(instance, host.Http.GetAsync(new Uri("/streams/%FF", UriKind.Relative)));
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("not UTF-8", await invalid.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AStateWhoseReadableFormHoldsANonFiniteValueIsShownAsValidJsonNotA500()
    {
        // kalman with q and r at the top of their ranges: after one sample p = 1e308 (finite, so committed), and the gain the
        // next sample gets, (p + q) / (p + q + r), is inf / inf = NaN. Before 2026-12-05 System.Text.Json threw on it: a
        // 500 with an empty body, and `streams show` said only "500 Internal Server Error".
        using var kit = new StreamConfigKit(partitions: 1);
        kit.Configure("huge", """{"algorithm":"kalman","params":{"q":1e308,"r":1e308}}""");
        var instance = kit.Start("one");
        kit.Produce([ProcessorHarness.Chunk("huge", 0, samples: 1)]);
        kit.StepUntil(() => kit.Harness.OutputCount("huge") == 1, instance);

        await using var host = await StreamHttpHost.StartAsync(instance, "one", new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System));
        using var answer = await Answered(instance, host.Http.GetAsync(new Uri("/streams/huge", UriKind.Relative)));

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        using var view = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        var values = view.RootElement.GetProperty("filter").GetProperty("values");
        Assert.Equal(1e308, values.GetProperty("errorVariance").GetDouble());
        Assert.Equal("NaN", values.GetProperty("gain").GetString()); // docs/processor.md: a value that is not finite is a string
    }

    private static Task<T> Answered<T>(StreamConfigKit.Instance instance, Task<T> request) => StreamHttpHost.Answered(request, instance);
}
