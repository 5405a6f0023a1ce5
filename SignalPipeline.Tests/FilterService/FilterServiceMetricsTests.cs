using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FilterService;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>
/// The service's instruments (docs/filter-api.md, "Limits"), read by name from one in-process service's meters:
/// <c>signalpipeline.filter.requests.active</c> / <c>.queued</c> (gauges), <c>.abandoned</c> and <c>.rejected</c>
/// by limit where the error-row tests do not already read it.
/// </summary>
public sealed class FilterServiceMetricsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_request_holding_the_slot_is_active_the_next_is_queued_and_one_more_is_rejected_for_concurrency()
    {
        var hold = new FilterServiceLimitsTests.SlotHold();
        await using var service = await FilterServiceLimitsTests.StartServiceAsync(hold, FilterServiceLimitsTests.OneSlot);
        using var active = Collect<int>(service, "active").AssertDocumented(typeof(ObservableGauge<>), "{request}");
        using var queued = Collect<int>(service, "queued").AssertDocumented(typeof(ObservableGauge<>), "{request}");
        using var rejected = Collect<long>(service, "rejected").AssertDocumented(typeof(Counter<>), "{request}");
        using var client = service.CreateClient();
        Assert.Equal((0, 0), (Small(active), Small(queued)));

        var holder = await hold.HoldAsync(client);
        Assert.Equal(1, Small(active));
        var waiting = PostJsonAsync(client, "/kalman/audio/run", RunBody([0.5]));
        await Poll.UntilAsync(() => Small(queued) == 1, Patience, () => "the second request to wait in the queue");

        using (var refused = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.5])))
        {
            // The queue's one place is taken: refused at once, not after the queue's timeout.
            await AssertProblemAsync(refused, HttpStatusCode.ServiceUnavailable,
                "The service is busy: all 1 slots for requests of this size are taken (FilterService:MaxConcurrentSmallRequests) and "
                + "the queue of 1 waiting requests is full (FilterService:RequestQueueLimit); retry after a second.");
        }

        Assert.Equal(1, rejected.Sum(("limit", "concurrency")));
        Assert.Equal((1, 1), (Small(active), Small(queued)));

        hold.Release();
        using (var first = await holder.WaitAsync(CallTimeout))
        using (var second = await waiting.WaitAsync(CallTimeout))
        {
            Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (first.StatusCode, second.StatusCode));
        }

        await Poll.UntilAsync(() => Small(active) == 0 && Small(queued) == 0, Patience, () => "both gauges back to 0");
        Assert.Equal(1, rejected.Sum());
    }

    [Fact]
    public async Task A_client_leaving_while_queued_is_counted_as_abandoned_and_one_holding_a_slot_frees_it()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync(new FilterServiceLimitsTests.SlotHold(), FilterServiceLimitsTests.OneSlot);
        using var abandoned = Collect<long>(service, "abandoned").AssertDocumented(typeof(Counter<>), "{request}");
        using var active = Collect<int>(service, "active");
        using var queued = Collect<int>(service, "queued");
        using var waiting = Collect<long>(service, "waiting_body_bytes").AssertDocumented(typeof(ObservableGauge<>), "By");

        // A request being served holds the slot; a whole request behind it waits in the queue.
        using var holder = await SendAsync(service.Address, "", path: FilterServiceLimitsTests.SlotHold.Path);
        await Poll.UntilAsync(() => Small(active) == 1, Patience, () => "the held request to take the slot");
        using var waiter = await SendAsync(service.Address, """{"signal":[0.5]}""");
        await Poll.UntilAsync(() => Small(queued) == 1, Patience, () => "the second request to wait in the queue");
        Assert.Equal(0, abandoned.Sum());

        // The gauge goes down just before the count goes up (the admission's finally, then its last line): wait for both.
        Reset(waiter);
        await Poll.UntilAsync(() => Small(queued) == 0 && abandoned.Sum() == 1, Patience,
            () => $"the queue to let the gone client go and count it (queued {Small(queued)}, abandoned {abandoned.Sum()})");
        Assert.Equal(1, Small(active));

        // A client leaving while it is served frees the slot and is counted too.
        Reset(holder);
        await Poll.UntilAsync(() => Small(active) == 0 && abandoned.Sum() == 2, Patience,
            () => $"the slot of the gone client to come back and the client to be counted (active {Small(active)}, abandoned {abandoned.Sum()})");

        // And one leaving in the middle of its body, which is read before it takes a slot: counted, its buffer given back.
        using var uploader = await SendAsync(service.Address, """{"signal":[0.2,0.9]}""", declaredLength: 100);
        await Poll.UntilAsync(() => waiting.Observe() > 0, Patience, () => "the body to be read ahead of its slot");
        Assert.Equal(0, Small(active));
        Reset(uploader);
        await Poll.UntilAsync(() => waiting.Observe() == 0 && abandoned.Sum() == 3, Patience,
            () => $"the gone uploader to be counted and its buffer given back (waiting {waiting.Observe()} bytes, abandoned {abandoned.Sum()})");

        using var client = service.CreateClient();
        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8]), filtered);
        Assert.Equal(3, abandoned.Sum());
    }

    [Theory]
    [InlineData("0")] // the large lane on the thread pool: the body read fails before Kestrel sets RequestAborted (every run seen)
    [InlineData("10")] // the default, on the low-priority threads: RequestAborted was set by then in every run seen
    public async Task A_large_request_whose_client_resets_in_the_middle_of_its_body_is_counted_as_abandoned_frees_its_slot_and_logs_no_warning(string nice)
    {
        // One large slot and no queue: while the gone client still held the slot, the next large request would get 503.
        var log = new ErrorLog(Microsoft.Extensions.Logging.LogLevel.Warning);
        await using var service = await FilterServiceLimitsTests.StartServiceAsync(log,
            ("FilterService:MaxConcurrentRequests", "1"), ("FilterService:RequestQueueLimit", "0"), ("FilterService:LargeRequestNice", nice));
        using var abandoned = Collect<long>(service, "abandoned");
        using var rejected = Collect<long>(service, "rejected");
        using var active = Collect<int>(service, "active");

        // 4 MiB declared (over SmallRequestBytes, 2 MiB): the request takes its slot before its body is read, and the
        // endpoint is reading the body when the reset comes. The read then fails with Kestrel's ConnectionResetException
        // (an IOException), with nice 0 before Kestrel has set RequestAborted: RequestAdmission's IOException branch
        // alone counts it then (without it: abandoned 0), and ends it (rethrown, it was logged as an unhandled error).
        var part = "{\"signal\":[" + string.Concat(Enumerable.Repeat("0.25,", 64 * 1024 / 5));
        using var uploader = await SendAsync(service.Address, part, declaredLength: 4 * 1024 * 1024);
        await Poll.UntilAsync(() => active.Sum(("lane", "large")) == 1, Patience, () => "the large request to take its slot");
        Assert.Equal(0, abandoned.Sum());
        Reset(uploader);
        await Poll.UntilAsync(() => active.Sum(("lane", "large")) == 0 && abandoned.Sum() == 1, Patience,
            () => $"the gone client's slot to come back and the client to be counted (active {active.Sum(("lane", "large"))}, abandoned {abandoned.Sum()})");

        // The next large request gets the slot at once (no 503 for concurrency) and is answered in full.
        using var client = service.CreateClient();
        var signal = TestSignal(200_000, seed: 5);
        Assert.True(Encoding.UTF8.GetByteCount(RunBody(signal)) > 2 * 1024 * 1024, "the second request is no large one");
        var (filtered, _) = await RunAsync(client, "kalman", signal);
        AssertBitIdentical(Reference("kalman", signal), filtered);

        Assert.Equal(1, abandoned.Sum());
        Assert.Equal(0, rejected.Sum());
        // The client's leaving is not the service's fault: no error (no "unhandled exception", no 500), nor a warning.
        Assert.Empty(log.Entries);
    }

    [Theory]
    [InlineData("state_bytes", HttpStatusCode.RequestEntityTooLarge)]
    [InlineData("media_type", HttpStatusCode.UnsupportedMediaType)]
    public async Task Other_refusals_are_counted_in_requests_rejected_by_their_limit(string limit, HttpStatusCode status)
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync(("FilterService:MaxStateBytesPerRequest", "4000"));
        using var rejected = Collect<long>(service, "rejected");
        using var client = service.CreateClient();

        // text/plain is no documented type; 20 new rls order-8 states pass 4000 bytes.
        using var response = limit == "media_type"
            ? await client.PostAsync("/kalman/audio/run", new StringContent(RunBody([0.1]), Encoding.UTF8, "text/plain")).WaitAsync(CallTimeout)
            : await PostJsonAsync(client, "/rls/audio/batch", $"{{\"params\":{{\"order\":8}},\"items\":[{string.Join(",", Enumerable.Repeat("{\"signal\":[0.1]}", 20))}]}}");

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(1, rejected.Sum(("limit", limit)));
        Assert.Equal(1, rejected.Sum());
    }

    [Fact]
    public async Task The_large_arrays_a_large_request_used_are_kept_and_shown_within_their_bound()
    {
        // A 3 MiB JSON body: its buffers (over 2 MiB) come from LargeArrayCache and go back to it. The cache is the
        // process's, shared with other tests' services, so its figure is read as "some, never over the bound".
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var cached = DocumentedMetric.Collect<long>(service.App.Services.GetRequiredService<IMeterFactory>(), FilterServiceMetrics.MeterName,
            "signalpipeline.filter.large_arrays.bytes").AssertDocumented(typeof(ObservableGauge<>), "By");
        using var client = service.CreateClient();
        var signal = TestSignal(200_000, seed: 3);
        var (filtered, _) = await RunAsync(client, "kalman", signal);
        AssertBitIdentical(Reference("kalman", signal), filtered);

        await Poll.UntilAsync(() => cached.Sum() > 0, Patience, () => "the large request's arrays to be kept");
        Assert.InRange(cached.Sum(), 1, LargeArrayCache.SharedMaxBytes);
    }

    /// <summary>A lane gauge's small-lane value, once its large lane is checked to hold nothing (these requests are all small).</summary>
    internal static int Small(MetricCollector<int> gauge)
    {
        Assert.Equal(0, gauge.Sum(("lane", "large")));
        return (int)gauge.Sum(("lane", "small"));
    }

    private static MetricCollector<T> Collect<T>(InProcessHost service, string instrument)
        where T : struct
        => DocumentedMetric.Collect<T>(service.App.Services.GetRequiredService<IMeterFactory>(), FilterServiceMetrics.MeterName,
            $"signalpipeline.filter.requests.{instrument}");

    /// <summary>A raw HTTP/1.1 POST of <paramref name="body"/>; with a larger <paramref name="declaredLength"/> the rest never comes.</summary>
    private static async Task<TcpClient> SendAsync(Uri address, string body, int? declaredLength = null, string path = "/kalman/audio/run")
    {
        var tcp = new TcpClient { LingerState = new LingerOption(true, 0) };
        await tcp.ConnectAsync(address.Host, address.Port).WaitAsync(CallTimeout);
        var request = $"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {declaredLength ?? Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";
        await tcp.GetStream().WriteAsync(Encoding.UTF8.GetBytes(request)).AsTask().WaitAsync(CallTimeout);
        return tcp;
    }

    /// <summary>The client goes away at once: with a zero linger time, closing sends a reset.</summary>
    private static void Reset(TcpClient tcp) => tcp.Client.Close();
}
