using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// <c>GET /streams/{id}/filter</c> (docs/websocket-bridge.md, "Filter state"): the processor's answer through a cache
/// shared by every client, and each limit's documented answer with a normal request served afterwards. An in-process
/// bridge without Kafka, in front of <see cref="FakeProcessor"/>.
/// </summary>
public sealed class FilterStateEndpointTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static Task<InProcessHost> StartBridgeAsync(FakeProcessor processor, params (string Key, string Value)[] settings)
        => BridgeLimitsTests.StartBridgeAsync([("Bridge:ProcessorUrl", processor.Address.ToString()), .. settings]);

    [Fact]
    public async Task Many_requests_for_one_stream_share_one_processor_call_and_get_its_answer()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var processor = await FakeProcessor.StartAsync();
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        processor.Hold("sensor-1");
        // The 80 pages are one address here: the bridge's request budget per address is another limit (off).
        await using var bridge = await StartBridgeAsync(processor, ("Bridge:FilterStateCacheMilliseconds", "60000"), ("Bridge:RequestsPerAddressPerSecond", "0"));
        using var http = bridge.CreateClient();

        // 40 pages ask while the processor has not answered yet, then 40 more from the cache.
        var asks = Enumerable.Range(0, 40).Select(_ => http.GetAsync("/streams/sensor-1/filter")).ToList();
        await WaitUntilAsync(() => Task.FromResult(processor.Calls("sensor-1") == 1));
        processor.Release("sensor-1");
        var answers = await Task.WhenAll(asks).WaitAsync(Patience);
        answers = [.. answers, .. await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => http.GetAsync("/streams/sensor-1/filter"))).WaitAsync(Patience)];

        Assert.Equal(1, processor.Calls("sensor-1"));
        foreach (var answer in answers)
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal("application/json", answer.Content.Headers.ContentType?.MediaType);
            var view = await answer.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("kalman", view.GetProperty("config").GetProperty("algorithm").GetString());
            Assert.Equal(0.25, view.GetProperty("filter").GetProperty("values").GetProperty("gain").GetDouble());
        }

        Assert.Equal(80, metrics.Sum("signalpipeline.bridge.filter_state.requests", ("result", "ok")));
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.filter_state.calls", ("result", "ok")));
        Assert.Equal(1, metrics.Count("signalpipeline.bridge.filter_state.call.duration")); // the one call, timed
    }

    [Fact]
    public async Task An_answer_older_than_the_cache_time_is_asked_for_again()
    {
        await using var processor = await FakeProcessor.StartAsync();
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        await using var bridge = await StartBridgeAsync(processor, ("Bridge:FilterStateCacheMilliseconds", "50"));
        using var http = bridge.CreateClient();

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/streams/sensor-1/filter").WaitAsync(Patience)).StatusCode);
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.5));

        await WaitUntilAsync(async () => (await GainAsync(http, "sensor-1")) == 0.5);
        Assert.True(processor.Calls("sensor-1") >= 2);
    }

    [Fact]
    public async Task A_stream_the_processor_does_not_know_is_404_without_the_processors_internals()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var processor = await FakeProcessor.StartAsync();
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        await using var bridge = await StartBridgeAsync(processor);
        using var http = bridge.CreateClient();

        var problem = await AssertProblemAsync(http, "/streams/nobody/filter", HttpStatusCode.NotFound);
        Assert.Contains("does not hold stream 'nobody'", problem.GetProperty("detail").GetString());
        Assert.DoesNotContain("fake-0", problem.GetProperty("detail").GetString());
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.filter_state.requests", ("result", "not_found")));

        Assert.Equal(0.25, await GainAsync(http, "sensor-1"));
    }

    [Fact]
    public async Task A_processor_that_is_down_gives_503_with_retry_after_and_the_bridge_goes_on()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("Bridge:ProcessorUrl", "http://127.0.0.1:1"));
        using var http = bridge.CreateClient();

        var problem = await AssertProblemAsync(http, "/streams/sensor-1/filter", HttpStatusCode.ServiceUnavailable);
        Assert.Equal("unavailable", problem.GetProperty("reason").GetString());
        Assert.Contains("cannot be reached", problem.GetProperty("detail").GetString());
        Assert.True(metrics.Sum("signalpipeline.bridge.filter_state.calls", ("result", "unavailable")) >= 1);

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/streams").WaitAsync(Patience)).StatusCode);
    }

    [Fact]
    public async Task A_processor_slower_than_the_timeout_gives_503_timeout_counted_and_other_streams_are_answered()
    {
        await using var processor = await FakeProcessor.StartAsync();
        processor.Answer("slow", FakeProcessor.KalmanView("slow", 0.1));
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        processor.Hold("slow");
        await using var bridge = await StartBridgeAsync(processor, ("Bridge:FilterStateTimeoutMilliseconds", "200"));
        using var requests = Requests(bridge);
        using var calls = Calls(bridge);
        using var http = bridge.CreateClient();

        await AssertUnavailableAsync(http, "/streams/slow/filter", "timeout",
            "The processor did not answer within 200 ms (Bridge:FilterStateTimeoutMilliseconds); try again.");
        AssertCounted(requests, "{request}", ("timeout", 1));
        AssertCounted(calls, "{call}", ("timeout", 1));

        Assert.Equal(0.25, await GainAsync(http, "sensor-1"));
        AssertCounted(requests, "{request}", ("timeout", 1), ("ok", 1));
    }

    [Fact]
    public async Task Past_MaxFilterStateCalls_a_new_stream_gets_503_busy_until_a_call_ends()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var processor = await FakeProcessor.StartAsync();
        processor.Answer("held", FakeProcessor.KalmanView("held", 0.1));
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        processor.Hold("held");
        await using var bridge = await StartBridgeAsync(processor, ("Bridge:MaxFilterStateCalls", "1"));
        using var http = bridge.CreateClient();

        var held = http.GetAsync("/streams/held/filter");
        await WaitUntilAsync(() => Task.FromResult(processor.Calls("held") == 1));
        var problem = await AssertProblemAsync(http, "/streams/sensor-1/filter", HttpStatusCode.ServiceUnavailable);
        Assert.Equal("busy", problem.GetProperty("reason").GetString());
        Assert.Contains("Bridge:MaxFilterStateCalls", problem.GetProperty("detail").GetString());
        Assert.Equal(0, processor.Calls("sensor-1"));
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.filter_state.requests", ("result", "busy")));

        processor.Release("held");
        Assert.Equal(HttpStatusCode.OK, (await held.WaitAsync(Patience)).StatusCode);
        Assert.Equal(0.25, await GainAsync(http, "sensor-1"));
    }

    [Fact]
    public async Task Past_MaxFilterStateStreams_a_new_stream_gets_503_counted_without_a_call_and_held_ones_are_still_served()
    {
        await using var processor = await FakeProcessor.StartAsync();
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        processor.Answer("sensor-2", FakeProcessor.KalmanView("sensor-2", 0.5));
        await using var bridge = await StartBridgeAsync(processor,
            ("Bridge:MaxFilterStateStreams", "1"), ("Bridge:FilterStateCacheMilliseconds", "60000"));
        using var requests = Requests(bridge);
        using var calls = Calls(bridge);
        using var http = bridge.CreateClient();

        Assert.Equal(0.25, await GainAsync(http, "sensor-1"));
        await AssertUnavailableAsync(http, "/streams/sensor-2/filter", "streams_limit",
            "The bridge holds the filter state of at most 1 streams at once (Bridge:MaxFilterStateStreams); try again shortly.");
        Assert.Equal(0, processor.Calls("sensor-2"));
        AssertCounted(requests, "{request}", ("ok", 1), ("streams_limit", 1));
        AssertCounted(calls, "{call}", ("ok", 1)); // sensor-1's one call; none for sensor-2

        Assert.Equal(0.25, await GainAsync(http, "sensor-1"));
        AssertCounted(requests, "{request}", ("ok", 2), ("streams_limit", 1));
    }

    [Theory]
    [InlineData(500, "The filter state is not available: the processor answered 500; try again.")]
    [InlineData(0, "The filter state is not available: the processor's answer is not JSON; try again.")]
    public async Task A_processor_answer_that_is_not_a_filter_state_gives_503_unavailable_counted_and_other_streams_are_answered(int status, string detail)
    {
        await using var processor = await FakeProcessor.StartAsync();
        if (status == 0)
        {
            processor.Answer("broken", "this is not JSON");
        }
        else
        {
            processor.AnswerStatus("broken", status);
        }

        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        await using var bridge = await StartBridgeAsync(processor);
        using var requests = Requests(bridge);
        using var calls = Calls(bridge);
        using var http = bridge.CreateClient();

        await AssertUnavailableAsync(http, "/streams/broken/filter", "unavailable", detail);
        AssertCounted(requests, "{request}", ("unavailable", 1));
        AssertCounted(calls, "{call}", ("unavailable", 1));

        Assert.Equal(0.25, await GainAsync(http, "sensor-1"));
        AssertCounted(requests, "{request}", ("unavailable", 1), ("ok", 1));
    }

    [Fact]
    public async Task An_answer_over_MaxFilterStateBytes_gives_503_and_a_small_one_is_served()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var processor = await FakeProcessor.StartAsync();
        var weights = string.Join(",", Enumerable.Repeat("0.123456789", 200));
        processor.Answer("big", "{\"streamId\":\"big\",\"filter\":{\"vectors\":{\"weights\":[" + weights + "]}}}");
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        await using var bridge = await StartBridgeAsync(processor, ("Bridge:MaxFilterStateBytes", "1024"));
        using var http = bridge.CreateClient();

        var problem = await AssertProblemAsync(http, "/streams/big/filter", HttpStatusCode.ServiceUnavailable);
        Assert.Contains("Bridge:MaxFilterStateBytes", problem.GetProperty("detail").GetString());
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.filter_state.calls", ("result", "too_large")));

        Assert.Equal(0.25, await GainAsync(http, "sensor-1"));
    }

    [Fact]
    public async Task An_address_asking_faster_than_FilterStateRequestsPerAddressPerMinute_gets_429_and_is_served_after_a_refill()
    {
        using var metrics = new MeasurementRecorder(BridgeMetrics.MeterName);
        await using var processor = await FakeProcessor.StartAsync();
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        // 60 a minute: a burst of 10, then one a second.
        await using var bridge = await StartBridgeAsync(processor, ("Bridge:FilterStateRequestsPerAddressPerMinute", "60"));
        using var http = bridge.CreateClient();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 30; i++)
        {
            using var response = await http.GetAsync("/streams/sensor-1/filter").WaitAsync(Patience);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
                await TooManyRequestsProblem.AssertAsync(response, "Bridge:FilterStateRequestsPerAddressPerMinute");
                break;
            }
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        Assert.True(statuses.Count > 10, $"refused after {statuses.Count} requests, before the burst of 10 was used");
        Assert.Equal(1, metrics.Sum("signalpipeline.bridge.filter_state.requests", ("result", "address_rate")));

        await WaitUntilAsync(async () => (await http.GetAsync("/streams/sensor-1/filter")).StatusCode == HttpStatusCode.OK);
    }

    [Fact]
    public async Task Without_a_processor_address_the_answer_is_501_naming_the_setting()
    {
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync();
        using var http = bridge.CreateClient();

        var problem = await AssertProblemAsync(http, "/streams/sensor-1/filter", HttpStatusCode.NotImplemented);
        Assert.Contains("PROCESSOR_URL", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task PROCESSOR_URL_sets_the_address_and_a_stream_id_over_256_UTF8_bytes_is_400()
    {
        await using var processor = await FakeProcessor.StartAsync();
        processor.Answer("sensor-1", FakeProcessor.KalmanView("sensor-1", 0.25));
        await using var bridge = await BridgeLimitsTests.StartBridgeAsync(("PROCESSOR_URL", processor.Address.ToString()));
        using var http = bridge.CreateClient();

        Assert.Equal(0.25, await GainAsync(http, "sensor-1"));
        await AssertProblemAsync(http, $"/streams/{new string('s', 257)}/filter", HttpStatusCode.BadRequest);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/streams/sensor-1/filter").WaitAsync(Patience)).StatusCode);
    }

    [Fact]
    public async Task Any_stream_id_the_page_encodes_reaches_the_processor_as_it_is()
    {
        // "a/b" and "a%2Fb" are two streams; '?' and '#' would end the path unescaped; 128 'é' are the longest id (256 bytes).
        string[] ids = ["a/b", "a%2Fb", "/", "50% off", "what?", "x#1", "é€ 日本/ü", new string('é', 128), "%FF"];
        await using var processor = await FakeProcessor.StartAsync();
        for (var i = 0; i < ids.Length; i++)
        {
            processor.Answer(ids[i], FakeProcessor.KalmanView("s", i + 1));
        }

        await using var bridge = await StartBridgeAsync(processor);
        using var http = bridge.CreateClient();

        for (var i = 0; i < ids.Length; i++)
        {
            // Escaped as the page's encodeURIComponent does (and Uri.EscapeDataString).
            Assert.Equal(i + 1, await GainAsync(http, Uri.EscapeDataString(ids[i])));
            Assert.Equal(1, processor.Calls(ids[i]));
        }

        // 129 'é' are 258 bytes: no stream has that id, whatever the processor holds.
        await AssertProblemAsync(http, $"/streams/{Uri.EscapeDataString(new string('é', 129))}/filter", HttpStatusCode.BadRequest);
        Assert.Equal(0, processor.Calls(new string('é', 129)));

        // %FF is no UTF-8: no page escapes any text so (it would otherwise name the stream "%FF", asked for above).
        var problem = await AssertProblemAsync(http, "/streams/%FF/filter", HttpStatusCode.BadRequest);
        Assert.Contains("not UTF-8", problem.GetProperty("detail").GetString());
        Assert.Equal(1, processor.Calls("%FF"));
    }

    [Fact]
    public async Task A_processor_address_that_is_not_http_stops_the_bridge_at_start_naming_the_setting()
    {
        var failure = await Record.ExceptionAsync(() => BridgeLimitsTests.StartBridgeAsync(("Bridge:ProcessorUrl", "filter-kafka-processor:8080")));
        Assert.Contains("Bridge:ProcessorUrl", failure?.Message);
    }

    /// <summary><c>signalpipeline.bridge.filter_state.requests</c> of this bridge alone.</summary>
    private static MetricCollector<long> Requests(InProcessHost bridge) => BridgeCounter(bridge, "signalpipeline.bridge.filter_state.requests");

    /// <summary><c>signalpipeline.bridge.filter_state.calls</c> of this bridge alone.</summary>
    private static MetricCollector<long> Calls(InProcessHost bridge) => BridgeCounter(bridge, "signalpipeline.bridge.filter_state.calls");

    private static MetricCollector<long> BridgeCounter(InProcessHost bridge, string instrument)
        => DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName, instrument);

    /// <summary>
    /// The counter is the documented one (a counter of <paramref name="unit"/>) and holds exactly <paramref name="counts"/> by
    /// <c>result</c>: nothing counted under another result.
    /// </summary>
    private static void AssertCounted(MetricCollector<long> counter, string unit, params (string Result, int Count)[] counts)
    {
        counter.AssertDocumented(typeof(Counter<>), unit);
        var byResult = counter.GetMeasurementSnapshot()
            .GroupBy(m => (string?)m.Tags["result"])
            .ToDictionary(g => g.Key!, g => g.Sum(m => m.Value));
        Assert.Equal(counts.OrderBy(c => c.Result, StringComparer.Ordinal).Select(c => $"{c.Result}={c.Count}"),
            byResult.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key}={c.Value}"));
    }

    private static async Task<double> GainAsync(HttpClient http, string streamId)
    {
        var view = await http.GetFromJsonAsync<JsonElement>($"/streams/{streamId}/filter").WaitAsync(Patience);
        return view.GetProperty("filter").GetProperty("values").GetProperty("gain").GetDouble();
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpClient http, string path, HttpStatusCode status)
    {
        using var response = await http.GetAsync(path).WaitAsync(Patience);
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        if (status == HttpStatusCode.ServiceUnavailable)
        {
            Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
        }

        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>The 503 problem of docs/websocket-bridge.md, "Filter state": its reason and exact detail, Retry-After: 1.</summary>
    private static async Task AssertUnavailableAsync(HttpClient http, string path, string reason, string detail)
    {
        var problem = await AssertProblemAsync(http, path, HttpStatusCode.ServiceUnavailable);
        Assert.Equal(reason, problem.GetProperty("reason").GetString());
        Assert.Equal("Filter state not available now", problem.GetProperty("title").GetString());
        Assert.Equal(detail, problem.GetProperty("detail").GetString());
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition never came true");
            await Task.Delay(20);
        }
    }
}
