using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FilterService;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>
/// Each of the service's limits (docs/filter-api.md "Limits") with small settings on an in-process service: the
/// documented answer naming the setting, then a normal client is still served.
/// </summary>
public sealed class FilterServiceLimitsTests
{
    internal static Task<InProcessHost> StartServiceAsync(params (string Key, string Value)[] settings)
        => InProcessHost.StartAsync(settings.ToDictionary(s => s.Key, s => (string?)s.Value),
            builder => builder.AddFilterService(), app => app.MapFilterService());

    /// <summary>The service with <paramref name="settings"/> (default ones unless given), its log entries of <paramref name="errors"/>' level and above collected there.</summary>
    internal static Task<InProcessHost> StartServiceAsync(ErrorLog errors, params (string Key, string Value)[] settings)
        => InProcessHost.StartAsync(settings.ToDictionary(s => s.Key, s => (string?)s.Value), builder =>
        {
            builder.AddFilterService();
            builder.Logging.AddProvider(errors);
        }, app => app.MapFilterService());

    /// <summary>One small slot, one place in the queue, and a queue wait far longer than the tests.</summary>
    internal static readonly (string, string)[] OneSlot =
        [("FilterService:MaxConcurrentSmallRequests", "1"), ("FilterService:RequestQueueLimit", "1"), ("FilterService:RequestQueueTimeout", "00:01:00")];

    /// <summary>The service with one more route, <see cref="SlotHold.Path"/>, whose requests hold their slot until released.</summary>
    internal static Task<InProcessHost> StartServiceAsync(SlotHold hold, params (string Key, string Value)[] settings)
        => InProcessHost.StartAsync(settings.ToDictionary(s => s.Key, s => (string?)s.Value),
            builder => builder.AddFilterService(), app =>
            {
                app.MapFilterService();
                app.MapPost(SlotHold.Path, hold.HandleAsync);
            });

    /// <summary>
    /// A small request that holds its slot while it is served: <c>POST /test/hold</c> without a body waits until
    /// <see cref="Release"/> (or until its client leaves), then answers 200. A small request's body is read before it
    /// takes a slot, so a body held back holds none; only a request being served does.
    /// </summary>
    internal sealed class SlotHold
    {
        public const string Path = "/test/hold";

        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _entered;

        /// <summary>Requests that got their slot and are being held.</summary>
        public int Entered => Volatile.Read(ref _entered);

        public void Release() => _release.TrySetResult();

        public async Task HandleAsync(HttpContext context)
        {
            Interlocked.Increment(ref _entered);
            await _release.Task.WaitAsync(context.RequestAborted);
        }

        /// <summary>Starts a held request and waits until it holds its slot.</summary>
        public async Task<Task<HttpResponseMessage>> HoldAsync(HttpClient client)
        {
            var entered = Entered;
            var holder = client.PostAsync(Path, content: null);
            await Poll.UntilAsync(() => Entered > entered || holder.IsCompleted, CallTimeout, () => "the held request to take its slot");
            Assert.False(holder.IsCompleted, "the held request was answered before it was released");
            return holder;
        }
    }

    private static async Task AssertStillServesAsync(HttpClient client)
    {
        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8]), filtered);
    }

    private static string JsonBatch(int items, int samplesEach, string? paramsJson = null)
        => $"{{{(paramsJson is null ? "" : $"\"params\":{paramsJson},")}\"items\":[{string.Join(",", Enumerable.Repeat($"{{\"signal\":{SignalJson(new double[samplesEach])}}}", items))}]}}";

    [Fact]
    public async Task ABatchOverMaxBatchItemsGets413InBothFormsAndNormalRequestsGoOn()
    {
        await using var service = await StartServiceAsync(("FilterService:MaxBatchItems", "3"));
        using var client = service.CreateClient();

        using var json = await PostJsonAsync(client, "/kalman/audio/batch", JsonBatch(4, 1));
        await AssertProblemAsync(json, HttpStatusCode.RequestEntityTooLarge, "FilterService:MaxBatchItems");

        var (status, _, body) = await PostBinaryBatchAsync(client, "/kalman/audio/batch", BinaryBatchBody([.. Enumerable.Repeat<(double[], byte[]?)>(([0.1], null), 4)]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("FilterService:MaxBatchItems", Encoding.UTF8.GetString(body));

        using var three = await PostJsonAsync(client, "/kalman/audio/batch", JsonBatch(3, 1));
        Assert.Equal(HttpStatusCode.OK, three.StatusCode);
        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task AParameterNameOverMaxParameterNameBytesOrTooManyParametersGet400WithoutTheNamesEchoed()
    {
        await using var service = await StartServiceAsync();
        using var client = service.CreateClient();

        // A name of 1 MB: refused before it is read as a string, and the detail does not repeat it.
        var longName = new string('x', 1 << 20);
        using var longOne = await PostJsonAsync(client, "/kalman/audio/run", "{\"signal\":[0.1],\"params\":{\"" + longName + "\":1}}");
        var text = await longOne.Content.ReadAsStringAsync();
        Assert.True(text.Length < 1000, $"the answer has {text.Length} characters");
        await AssertProblemAsync(longOne, HttpStatusCode.BadRequest, "parameter names are at most 64 bytes");

        var many = string.Join(",", Enumerable.Range(0, FilterRequest.MaxParameters + 1).Select(i => $"\"p{i}\":1"));
        using var tooMany = await PostJsonAsync(client, "/kalman/audio/batch", "{\"params\":{" + many + "},\"items\":[{\"signal\":[0.1]}]}");
        await AssertProblemAsync(tooMany, HttpStatusCode.BadRequest, $"more than {FilterRequest.MaxParameters} entries");

        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task MoreThanMaxSamplesPerRequestGets413WhateverTheFormAndNormalRequestsGoOn()
    {
        await using var service = await StartServiceAsync(("FilterService:MaxSamplesPerRequest", "100"));
        using var client = service.CreateClient();

        using var run = await PostJsonAsync(client, "/kalman/audio/run", RunBody(new double[101]));
        await AssertProblemAsync(run, HttpStatusCode.RequestEntityTooLarge, "FilterService:MaxSamplesPerRequest");

        using var octets = new ByteArrayContent(new byte[101 * sizeof(double)]);
        octets.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var binary = await client.PostAsync("/kalman/audio/run", octets).WaitAsync(CallTimeout);
        await AssertProblemAsync(binary, HttpStatusCode.RequestEntityTooLarge, "FilterService:MaxSamplesPerRequest");

        // Counted over all items of a batch.
        using var batch = await PostJsonAsync(client, "/kalman/audio/batch", JsonBatch(3, 34));
        await AssertProblemAsync(batch, HttpStatusCode.RequestEntityTooLarge, "FilterService:MaxSamplesPerRequest");

        using var atLimit = await PostJsonAsync(client, "/kalman/audio/run", RunBody(new double[100]));
        Assert.Equal(HttpStatusCode.OK, atLimit.StatusCode);
        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task StatesOverMaxStateBytesPerRequestGet413AndNormalRequestsGoOn()
    {
        // An rls order-8 state is several hundred bytes: 20 of them pass 4000 bytes.
        await using var service = await StartServiceAsync(("FilterService:MaxStateBytesPerRequest", "4000"));
        using var client = service.CreateClient();

        using var many = await PostJsonAsync(client, "/rls/audio/batch", JsonBatch(20, 1, """{"order":8}"""));
        await AssertProblemAsync(many, HttpStatusCode.RequestEntityTooLarge, "FilterService:MaxStateBytesPerRequest");

        using var one = await PostJsonAsync(client, "/rls/audio/batch", JsonBatch(1, 1, """{"order":8}"""));
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        await AssertStillServesAsync(client);
    }

    [Theory]
    [InlineData("/kalman/audio/run", "text/plain")]
    [InlineData("/kalman/audio/run", "application/x-www-form-urlencoded")]
    [InlineData("/kalman/audio/run", "application/vnd.signalpipeline.filter-batch")]
    [InlineData("/kalman/audio/batch", "text/plain")]
    [InlineData("/kalman/audio/batch", "multipart/form-data; boundary=x")]
    public async Task AnUndocumentedContentTypeGets415(string path, string contentType)
    {
        await using var service = await StartServiceAsync();
        using var client = service.CreateClient();
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"signal":[0.2,0.9]}"""));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        using var response = await client.PostAsync(path, content).WaitAsync(CallTimeout);

        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "application/json");
        await AssertStillServesAsync(client);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/problem+json")]
    public async Task JsonWithoutContentTypeOrAnyJsonTypeIsRead(string? contentType)
    {
        await using var service = await StartServiceAsync();
        using var client = service.CreateClient();
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"signal":[0.2,0.9]}"""));
        if (contentType is not null)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        using var response = await client.PostAsync("/kalman/audio/run", content).WaitAsync(CallTimeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ABodyDeclaredMoreThanOneMebibyteOverTheLimitGets413AtOnceWithoutBeingRead()
    {
        // Only the headers are sent: a body within 1 MiB over the limit would be read to its end first (and this one
        // never comes), one further over is refused as soon as its declared length is known.
        await using var service = await StartServiceAsync(("FilterService:MaxRequestBodyBytes", "1000"));
        using var rejected = CollectRejected(service);
        using var tcp = await StartSlowUploadAsync(service.Address, 1000 + 2 * 1024 * 1024, sent: "");
        var answer = await ReadAnswerAsync(tcp);
        Assert.StartsWith("HTTP/1.1 413 ", answer.Status, StringComparison.Ordinal);
        Assert.Contains("application/problem+json", answer.Headers, StringComparison.Ordinal);
        Assert.Contains($"The request body is {1000 + 2 * 1024 * 1024} bytes; the limit (FilterService:MaxRequestBodyBytes) is 1000 bytes.", answer.Body, StringComparison.Ordinal);
        Assert.Equal(1, rejected.Sum(("limit", "body_bytes")));
        Assert.Equal(1, rejected.Sum());

        using var client = service.CreateClient();
        await AssertStillServesAsync(client);
    }

    /// <summary>
    /// A large request refused by the lane's queue is answered before its body is read: a client sending
    /// <c>Expect: 100-continue</c> (and waiting longer than <c>RequestQueueTimeout</c>) gets the 503 without sending its
    /// body, and sends it once it has the slot (docs/filter-api.md, Limits).
    /// </summary>
    [Fact]
    public async Task ALargeRequestAskingToContinueGetsTheLanesRefusalBeforeSendingItsBodyAndSendsItOnceItHasTheSlot()
    {
        var hold = new SlotHold();
        await using var service = await StartServiceAsync(hold, ("FilterService:SmallRequestBytes", "1000"), ("FilterService:MaxConcurrentRequests", "1"),
            ("FilterService:RequestQueueTimeout", "00:00:00.2"));
        using var client = service.CreateClient();
        using var continuing = ContinuingUpload.Client(service.Address, CallTimeout);

        // A large request (its body over SmallRequestBytes) holds the large lane's one slot.
        var holder = client.PostAsync(SlotHold.Path, new ByteArrayContent(new byte[64 * 1024]));
        await Poll.UntilAsync(() => hold.Entered == 1 || holder.IsCompleted, CallTimeout, () => "the large request to take the slot");
        Assert.False(holder.IsCompleted, "the held request was answered before it was released");

        // 8 MiB of samples: more than the sockets' buffers take.
        const long bodyBytes = 8 * 1024 * 1024;
        var refusedBody = new ContinuingUpload.Body(bodyBytes);
        using (var refused = await continuing.SendAsync(ContinuingUpload.Post(refusedBody)).WaitAsync(CallTimeout))
        {
            await AssertProblemAsync(refused, HttpStatusCode.ServiceUnavailable, "FilterService:RequestQueueTimeout");
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        Assert.False(refusedBody.Sent, "the client sent the body of a request the service refused before asking for it");
        hold.Release();
        using (var held = await holder.WaitAsync(CallTimeout))
        {
            Assert.Equal(HttpStatusCode.OK, held.StatusCode);
        }

        var servedBody = new ContinuingUpload.Body(bodyBytes);
        using (var served = await continuing.SendAsync(ContinuingUpload.Post(servedBody)).WaitAsync(CallTimeout))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
            Assert.Equal(bodyBytes, (await served.Content.ReadAsByteArrayAsync()).Length);
        }

        Assert.True(servedBody.Sent);
    }

    [Fact]
    public async Task HealthProbesAreAnsweredWhileEverySlotAndTheQueueAreTaken()
    {
        // The one small slot held and the queue's one place taken: a filter request is refused at once (503), but the
        // probes never wait for a slot (docs/filter-api.md, Limits), so a busy service is not restarted or taken out.
        var hold = new SlotHold();
        await using var service = await StartServiceAsync(hold, OneSlot);
        using var client = service.CreateClient();
        var holder = await hold.HoldAsync(client);
        var waiting = PostJsonAsync(client, "/kalman/audio/run", RunBody([0.5]));
        using var queued = DocumentedMetric.Collect<int>(service.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            FilterServiceMetrics.MeterName, "signalpipeline.filter.requests.queued");
        await Poll.UntilAsync(() => queued.Sum() == 1, CallTimeout, () => "the second request to wait in the queue");
        using (var refused = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.5])))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        foreach (var probe in new[] { "/health", "/alive" })
        {
            using var answer = await client.GetAsync(probe).WaitAsync(CallTimeout);
            Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{probe}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync()}");
        }

        Assert.False(waiting.IsCompleted, "the queued request was answered while the slot was held");
        hold.Release();
        using (var first = await holder.WaitAsync(CallTimeout))
        using (var second = await waiting.WaitAsync(CallTimeout))
        {
            Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (first.StatusCode, second.StatusCode));
        }
    }

    [Fact]
    public async Task BeyondMaxConcurrentSmallRequestsAndTheQueueTheAnswerIs503WithRetryAfter()
    {
        var hold = new SlotHold();
        await using var service = await StartServiceAsync(hold,
            ("FilterService:MaxConcurrentSmallRequests", "1"), ("FilterService:RequestQueueLimit", "1"), ("FilterService:RequestQueueTimeout", "00:00:00.5"));
        using var client = service.CreateClient();
        var holder = await hold.HoldAsync(client);

        // The queue holds one request for 0.5 s, then it is answered 503.
        using var queued = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.5]));
        Assert.Equal(TimeSpan.FromSeconds(1), queued.Headers.RetryAfter?.Delta);
        await AssertProblemAsync(queued, HttpStatusCode.ServiceUnavailable,
            "The service is busy: all 1 slots for requests of this size are taken (FilterService:MaxConcurrentSmallRequests) and no slot freed "
            + "within 0.5 s (FilterService:RequestQueueTimeout, queue of 1, FilterService:RequestQueueLimit); retry after a second.");

        hold.Release();
        using (var first = await holder.WaitAsync(CallTimeout))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        await AssertStillServesAsync(client);
    }

    /// <summary>A raw HTTP/1.1 POST declaring <paramref name="declaredLength"/> bytes of which only <paramref name="sent"/> come.</summary>
    internal static async Task<System.Net.Sockets.TcpClient> StartSlowUploadAsync(Uri address, int declaredLength, string sent)
    {
        var tcp = new System.Net.Sockets.TcpClient { LingerState = new System.Net.Sockets.LingerOption(true, 0) };
        await tcp.ConnectAsync(address.Host, address.Port).WaitAsync(CallTimeout);
        var request = $"POST /kalman/audio/run HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {declaredLength}\r\n\r\n{sent}";
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask().WaitAsync(CallTimeout);
        return tcp;
    }

    /// <summary>Sends <paramref name="chunk"/> on the raw connection every <paramref name="every"/> until stopped (or the connection fails).</summary>
    internal static Task TrickleAsync(System.Net.Sockets.TcpClient tcp, string chunk, TimeSpan every, CancellationToken stop) => Task.Run(async () =>
    {
        var bytes = Encoding.ASCII.GetBytes(chunk);
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(every, stop);
            await tcp.GetStream().WriteAsync(bytes, stop);
        }
    });

    private static long WaitingBodyBytes(InProcessHost service)
        => service.App.Services.GetRequiredService<RequestAdmission>().WaitingBodyBytes;

    [Fact]
    public async Task ClientsSendingTheirBodiesSlowlyHoldNoSlotSoSmallRequestsAreStillServed()
    {
        // Two small slots (the default) and no queue: were the slow uploads holding the slots, the next request would
        // get 503 at once (before 2026-12-04 it did, for the whole FilterService:RequestTimeout, again and again).
        await using var service = await StartServiceAsync(("FilterService:RequestQueueLimit", "0"));
        var slow = new List<System.Net.Sockets.TcpClient>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                slow.Add(await StartSlowUploadAsync(service.Address, 12_000, """{"signal":[0.1,"""));
            }

            await Poll.UntilAsync(() => WaitingBodyBytes(service) >= 4 * 16 * 1024, CallTimeout, () => "the four slow bodies to be read");
            using var client = service.CreateClient();
            for (var i = 0; i < 5; i++)
            {
                await AssertStillServesAsync(client);
            }

            Assert.Equal(0, service.App.Services.GetRequiredService<FilterServiceMetrics>().ActiveRequests);
        }
        finally
        {
            slow.ForEach(tcp => tcp.Dispose());
        }

        await Poll.UntilAsync(() => WaitingBodyBytes(service) == 0, CallTimeout, () => "the gone uploads' buffers to be given back");
    }

    [Fact]
    public async Task ABodyThatDoesNotArriveWithinRequestTimeoutGets408NamingTheSetting()
    {
        await using var service = await StartServiceAsync(("FilterService:RequestTimeout", "00:00:01"));
        using var rejected = CollectRejected(service);
        using var tcp = await StartSlowUploadAsync(service.Address, 1000, """{"signal":[0.1,""");
        var answer = await ReadAnswerAsync(tcp);
        Assert.StartsWith("HTTP/1.1 408 ", answer.Status, StringComparison.Ordinal);
        Assert.Contains("The request body did not arrive within 1 s (FilterService:RequestTimeout): 1000 bytes declared.", answer.Body, StringComparison.Ordinal);
        // The 408 row's limit tag, for a small body too (the table's LargeBodyMinBytesPerSecond row names the same).
        Assert.Equal(1, rejected.Sum(("limit", "body_timeout")));
        Assert.Equal(1, rejected.Sum());
        await Poll.UntilAsync(() => WaitingBodyBytes(service) == 0, CallTimeout, () => "the refused body's buffer to be given back");

        using var client = service.CreateClient();
        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task ABodySlowerThanKestrelsMinimumDataRateGets408NotAServerError()
    {
        // A large request (its slot taken before the body) whose body trickles in at 20 bytes/s, under Kestrel's 240
        // bytes/s: after its 5 s grace, 408 naming the cause (before 2026-12-04, a 500 logged as the service's error).
        // The large lane's own minimum rate off, so Kestrel's is what applies.
        await using var service = await StartServiceAsync(("FilterService:SmallRequestBytes", "16"), ("FilterService:LargeBodyMinBytesPerSecond", "0"));
        using var rejected = DocumentedMetric.Collect<long>(service.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            FilterServiceMetrics.MeterName, "signalpipeline.filter.requests.rejected");
        using var tcp = await StartSlowUploadAsync(service.Address, 1000, """{"signal":[0.1""");
        using var stop = new CancellationTokenSource();
        var trickle = TrickleAsync(tcp, ",0.1,0.1", TimeSpan.FromMilliseconds(500), stop.Token);
        var answer = await ReadAnswerAsync(tcp);
        await stop.CancelAsync();
        await Task.WhenAny(trickle);
        Assert.StartsWith("HTTP/1.1 408 ", answer.Status, StringComparison.Ordinal);
        Assert.Contains("The request body arrived too slowly: ", answer.Body, StringComparison.Ordinal);
        Assert.Contains("MinRequestBodyDataRate", answer.Body, StringComparison.Ordinal);
        Assert.Equal(1, rejected.Sum(("limit", "body_timeout")));
        Assert.Equal(1, rejected.Sum());

        using var client = service.CreateClient();
        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task ALargeBodyTricklingInAfterItsSlotIsTakenGets408NamingLargeBodyMinBytesPerSecondAndTheNextLargeRequestIsServed()
    {
        // The one large slot (default settings) taken by a 4 MiB body that comes at about 1 KiB/s; a second large request
        // queues behind it (for up to 20 s here). Before 2026-12-05 the trickle held the slot until FilterService:RequestTimeout
        // (30 s) and the queued request got 503; now the trickle is cut off after the grace with 408, and the slot goes
        // to the queued request.
        await using var service = await StartServiceAsync(("FilterService:RequestQueueTimeout", "00:00:20"));
        using var rejected = DocumentedMetric.Collect<long>(service.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            FilterServiceMetrics.MeterName, "signalpipeline.filter.requests.rejected");
        var metrics = service.App.Services.GetRequiredService<FilterServiceMetrics>();
        using var active = DocumentedMetric.Collect<int>(service.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            FilterServiceMetrics.MeterName, "signalpipeline.filter.requests.active");
        using var waiting = DocumentedMetric.Collect<int>(service.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            FilterServiceMetrics.MeterName, "signalpipeline.filter.requests.queued");
        using var tcp = await StartSlowUploadAsync(service.Address, 4 * 1024 * 1024, """{"signal":[0.1""");
        await Poll.UntilAsync(() => metrics.ActiveRequests == 1, CallTimeout, () => "the slow upload to take the large slot");

        // The gauges tell the lanes apart: the slot taken is the large lane's.
        Assert.Equal((1.0, 0.0), (active.Sum(("lane", "large")), active.Sum(("lane", "small"))));
        using var stop = new CancellationTokenSource();
        var trickle = TrickleAsync(tcp, string.Concat(Enumerable.Repeat(",0.1", 25)), TimeSpan.FromMilliseconds(100), stop.Token);

        // A normal large request, sent at once: 3 MiB of JSON, over SmallRequestBytes (2 MiB).
        using var client = service.CreateClient();
        var signal = TestSignal(200_000, seed: 7);
        var body = RunBody(signal);
        Assert.True(body.Length > 2 * 1024 * 1024, "the second request must be large");
        var queued = PostJsonAsync(client, "/kalman/audio/run", body);
        await Poll.UntilAsync(() => waiting.Sum(("lane", "large")) == 1 && waiting.Sum(("lane", "small")) == 0, CallTimeout,
            () => "the second large request to wait in the large lane's queue");

        var answer = await ReadAnswerAsync(tcp);
        await stop.CancelAsync();
        await Task.WhenAny(trickle);
        Assert.True(answer.Status.StartsWith("HTTP/1.1 408 ", StringComparison.Ordinal), answer.Status + "\n" + answer.Body);
        Assert.Contains("application/problem+json", answer.Headers, StringComparison.Ordinal);
        Assert.Contains("The request body arrived at less than 1048576 bytes/s, the least for a request holding a large-request slot "
            + "(FilterService:LargeBodyMinBytesPerSecond, after 4 s, FilterService:LargeBodyMinRateGracePeriod): 4194304 bytes declared.",
            answer.Body, StringComparison.Ordinal);

        using var served = await queued;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        using var json = JsonDocument.Parse(await served.Content.ReadAsStringAsync());
        AssertBitIdentical(Reference("kalman", signal), ReadSignal(json.RootElement.GetProperty("filtered_signal")));
        Assert.Equal(1, rejected.Sum(("limit", "body_timeout")));
        Assert.Equal(1, rejected.Sum());
        await Poll.UntilAsync(() => metrics.ActiveRequests == 0, CallTimeout, () => "both requests to give their slot back");
    }

    /// <summary>The service's <c>signalpipeline.filter.requests.rejected</c> (docs/filter-api.md, the limits table's <c>limit</c> tag), read by name.</summary>
    private static Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long> CollectRejected(InProcessHost service)
        => DocumentedMetric.Collect<long>(service.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            FilterServiceMetrics.MeterName, "signalpipeline.filter.requests.rejected").AssertDocumented(typeof(System.Diagnostics.Metrics.Counter<>), "{request}");

    /// <summary>The status line, the header lines and the first 4 KiB of the body of the answer on a raw connection.</summary>
    internal static async Task<(string Status, string Headers, string Body)> ReadAnswerAsync(System.Net.Sockets.TcpClient tcp)
    {
        using var reader = new StreamReader(tcp.GetStream(), Encoding.UTF8, leaveOpen: true);
        var status = await reader.ReadLineAsync().WaitAsync(CallTimeout) ?? "";
        var headers = new StringBuilder();
        while (await reader.ReadLineAsync().WaitAsync(CallTimeout) is { Length: > 0 } line)
        {
            headers.AppendLine(line);
        }

        var body = new char[4096];
        var read = await reader.ReadAsync(body).AsTask().WaitAsync(CallTimeout);
        return (status, headers.ToString(), new string(body, 0, read));
    }

    [Fact]
    public async Task BodiesReadAheadOfTheirSlotTakeAtMostMaxWaitingBodyBytesThenRequestsGet503()
    {
        // The least budget that takes one small body of 64 KiB: 2 * 65536 + 1 MiB = 72 buffers of 16 KiB, the first
        // buffer of a body read ahead. 72 uploads that stall after a few bytes take all of it.
        const int Budget = 2 * 65536 + 1024 * 1024;
        await using var service = await StartServiceAsync(("FilterService:SmallRequestBytes", "65536"),
            ("FilterService:MaxWaitingBodyBytes", Budget.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        using var rejected = CollectRejected(service);
        using var client = service.CreateClient();
        var slow = new List<System.Net.Sockets.TcpClient>();
        try
        {
            for (var i = 0; i < Budget / (16 * 1024); i++)
            {
                slow.Add(await StartSlowUploadAsync(service.Address, 60_000, """{"signal":[0.1,"""));
            }

            await Poll.UntilAsync(() => WaitingBodyBytes(service) == Budget, CallTimeout, () => $"the slow bodies to take the budget ({WaitingBodyBytes(service)} of {Budget})");
            using var refused = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.5]));
            Assert.NotNull(refused.Headers.RetryAfter);
            await AssertProblemAsync(refused, HttpStatusCode.ServiceUnavailable, $"of the {Budget} allowed (FilterService:MaxWaitingBodyBytes)");
            Assert.Equal(1, rejected.Sum(("limit", "waiting_body_bytes")));
            Assert.Equal(1, rejected.Sum());
        }
        finally
        {
            slow.ForEach(tcp => tcp.Dispose());
        }

        await Poll.UntilAsync(() => WaitingBodyBytes(service) == 0, CallTimeout, () => "the gone uploads' buffers to be given back");
        await AssertStillServesAsync(client);
    }

    /// <summary>One slot for large requests (over 16 bytes declared), no queue; a body held back keeps its slot (no minimum rate).</summary>
    private static readonly (string, string)[] OneLargeSlotNoQueue =
        [("FilterService:MaxConcurrentRequests", "1"), ("FilterService:RequestQueueLimit", "0"), ("FilterService:SmallRequestBytes", "16"),
            ("FilterService:LargeBodyMinBytesPerSecond", "0")];

    /// <summary>Starts a large request whose body is held back and waits until it has taken its slot.</summary>
    private static async Task<(HeldContent Held, Task<HttpResponseMessage> Holder)> HoldALargeSlotAsync(InProcessHost service, HttpClient client)
    {
        var held = new HeldContent("""{"signal":[0.2,0.9]}""" + new string(' ', 100));
        var holder = PostJsonContentAsync(client, held);
        await held.Started.WaitAsync(CallTimeout);
        var metrics = service.App.Services.GetRequiredService<FilterServiceMetrics>();
        await Poll.UntilAsync(() => metrics.ActiveRequests == 1, CallTimeout, () => "the held request to take its slot");
        return (held, holder);
    }

    [Fact]
    public async Task SmallRequestsHaveTheirOwnLaneWhileLargeOnesFillMaxConcurrentRequests()
    {
        await using var service = await StartServiceAsync(OneLargeSlotNoQueue);
        using var client = service.CreateClient();
        var (held, holder) = await HoldALargeSlotAsync(service, client);

        // Another large request finds the large lane full (no queue here): 503 naming the setting.
        using var large = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.5, 0.25]) + new string(' ', 100));
        await AssertProblemAsync(large, HttpStatusCode.ServiceUnavailable, "FilterService:MaxConcurrentRequests) and no request may wait for one (FilterService:RequestQueueLimit = 0");

        // A small one (at most 16 bytes declared) is served at once.
        using var small = await PostJsonAsync(client, "/kalman/audio/run", """{"signal":[1]}""");
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);

        held.Release();
        using var first = await holder.WaitAsync(CallTimeout);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
    }

    [Fact]
    public async Task APostWithoutABodyTakesTheSmallLaneAndGets400WhileTheLargeLaneIsFull()
    {
        await using var service = await StartServiceAsync(OneLargeSlotNoQueue);
        using var client = service.CreateClient();
        var (held, holder) = await HoldALargeSlotAsync(service, client);

        // Neither Content-Length nor Transfer-Encoding: no body (RFC 9112, 6.3), so not a large request. HttpClient
        // cannot send this (it declares Content-Length: 0 on a POST without content).
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(service.Address.Host, service.Address.Port).WaitAsync(CallTimeout);
            var stream = tcp.GetStream();
            var request = "POST /kalman/audio/run HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask().WaitAsync(CallTimeout);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var answer = await reader.ReadToEndAsync().WaitAsync(CallTimeout);
            Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
            Assert.Contains("The request body is empty", answer, StringComparison.Ordinal);
        }

        held.Release();
        using var first = await holder.WaitAsync(CallTimeout);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
    }

    [Fact]
    public async Task ARequestOverRequestTimeoutIsStoppedInsideTheFilterLoopWith503()
    {
        await using var service = await StartServiceAsync(("FilterService:RequestTimeout", "00:00:01"),
            ("FilterService:MaxConcurrentRequests", "1"), ("FilterService:SmallRequestBytes", "0"), ("FilterService:RequestQueueTimeout", "00:01:00"));
        using var rejected = CollectRejected(service);
        using var abandoned = DocumentedMetric.Collect<long>(service.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            FilterServiceMetrics.MeterName, "signalpipeline.filter.requests.abandoned");
        using var client = service.CreateClient();

        // rls order 64 over 2 Mi samples takes many seconds: the timeout stops it between two slices of the run.
        using var content = new ByteArrayContent(new byte[2 * 1024 * 1024 * sizeof(double)]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var slow = await client.PostAsync("/rls/audio/run?order=64", content).WaitAsync(CallTimeout);
        Assert.NotNull(slow.Headers.RetryAfter);
        await AssertProblemAsync(slow, HttpStatusCode.ServiceUnavailable, "FilterService:RequestTimeout");
        // The RequestTimeout row's limit tag; the client waited for its answer, so nothing was abandoned.
        Assert.Equal(1, rejected.Sum(("limit", "timeout")));
        Assert.Equal(1, rejected.Sum());
        Assert.Equal(0, abandoned.Sum());

        // The one slot is free again (every request is "large" here): the stopped run is not still going.
        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task AClientReadingALargeAnswerTooSlowlyIsCutOffAtRequestTimeoutCountedAsTimeoutAndLoggedAsNoError()
    {
        // 2 Mi samples (16 MiB) in, 16 MiB of filtered samples out, to a client that reads the status line and then
        // stops reading: the answer has begun, so at RequestTimeout no 503 can follow and the answer is cut off
        // (docs/filter-api.md, FilterService:RequestTimeout). It is the client's doing: counted as timeout, no error.
        // 5 s, not less: the upload and the run must end before it, so that the answer has begun (at 1 s a loaded CI
        // machine, 2026-12-07, answered 503 before the answer began).
        var errors = new ErrorLog();
        await using var service = await InProcessHost.StartAsync(
            new Dictionary<string, string?> { ["FilterService:RequestTimeout"] = "00:00:05" },
            builder =>
            {
                builder.AddFilterService();
                builder.Logging.AddProvider(errors);
            },
            app => app.MapFilterService());
        using var rejected = CollectRejected(service);
        const int Samples = 2 * 1024 * 1024;
        using var tcp = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 4096 };
        await tcp.ConnectAsync(service.Address.Host, service.Address.Port).WaitAsync(CallTimeout);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /kalman/audio/run HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n"
            + $"Content-Length: {Samples * sizeof(double)}\r\n\r\n")).AsTask().WaitAsync(CallTimeout);
        await stream.WriteAsync(new byte[Samples * sizeof(double)]).AsTask().WaitAsync(CallTimeout);

        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one).AsTask().WaitAsync(CallTimeout) == 1)
        {
            head.Append((char)one[0]);
        }

        Assert.StartsWith("HTTP/1.1 200 ", head.ToString(), StringComparison.Ordinal);
        await Poll.UntilAsync(() => rejected.Sum(("limit", "timeout")) == 1, CallTimeout, () => "the stalled answer to be stopped at RequestTimeout; rejected " + rejected.Sum() + "; errors: " + string.Join(" | ", errors.Entries));

        // Read on now: what comes is the part sent before the cut, then the end of the connection, never the whole answer.
        var received = 0L;
        var buffer = new byte[64 * 1024];
        try
        {
            for (int read; (read = await stream.ReadAsync(buffer).AsTask().WaitAsync(CallTimeout)) > 0;)
            {
                received += read;
            }
        }
        catch (IOException)
        {
            // reset rather than closed: cut off all the same
        }

        Assert.True(received < Samples * sizeof(double), $"the whole answer ({received} bytes) arrived");
        Assert.Equal(1, rejected.Sum());
        Assert.Empty(errors.Entries);
        using var client = service.CreateClient();
        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task AnAbandonedLongRequestStopsAndFreesItsSlot()
    {
        // One large slot. MaxStateBytesPerRequest = 1 is a tripwire, not a limit under test: a run that went on to the
        // end of its item would then meet it and be counted in requests.rejected{limit=state_bytes}; a stopped one never.
        using var metrics = new MeasurementRecorder(FilterServiceMetrics.MeterName);
        await using var service = await StartServiceAsync(
            ("FilterService:MaxConcurrentRequests", "1"), ("FilterService:SmallRequestBytes", "0"), ("FilterService:MaxStateBytesPerRequest", "1"),
            ("FilterService:RequestQueueTimeout", "00:01:00"));
        using var client = service.CreateClient();

        // rls order 64 over ~2 Mi samples: 128 slices, 3 s of CPU (AVX-512, 2026-12). The client leaves in the middle of the filter loop:
        // once its body is all sent and the process has since spent half a second of CPU, which only the loop spends
        // (reading and copying the body takes milliseconds). Not after a fixed wall-clock time: on a loaded machine that
        // may pass within the upload, and the test would then not reach the loop.
        var body = new SentContent(BinaryBatchBody((new double[2 * 1024 * 1024 - 16], null)));
        body.Headers.ContentType = new MediaTypeHeaderValue(BatchMediaType);
        using (var abandon = new CancellationTokenSource())
        {
            var abandoned = client.PostAsync("/rls/audio/batch?order=64", body, abandon.Token);
            await body.Sent.WaitAsync(CallTimeout);
            var sent = ProcessCpuTime();
            await Poll.UntilAsync(() => ProcessCpuTime() - sent > TimeSpan.FromMilliseconds(500), CallTimeout, () => "the service to filter");
            await abandon.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned.WaitAsync(CallTimeout));
        }

        // Its slot comes back (however long the stopping slice takes on this machine: the large lane runs at nice 10,
        // so under CPU contention a slice can take seconds), and it was stopped, not finished.
        // (It is counted as abandoned when it leaves its slot.)
        await Poll.UntilAsync(() => metrics.Sum("signalpipeline.filter.requests.abandoned") == 1, CallTimeout, () => "the abandoned request to leave its slot");
        Assert.Equal(0, service.App.Services.GetRequiredService<FilterServiceMetrics>().ActiveRequests);
        Assert.Equal(0, metrics.Sum("signalpipeline.filter.requests.rejected", ("limit", "state_bytes")));
        await AssertStillServesAsync(client);
    }

    [Fact]
    public async Task AClientLeavingInTheMiddleOfItsBodyIsNotAServerError()
    {
        var errors = new ErrorLog();
        await using var service = await StartServiceAsync(errors);
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(service.Address.Host, service.Address.Port).WaitAsync(CallTimeout);
            var request = "POST /kalman/audio/run HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"signal\":[0.2";
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request)).AsTask().WaitAsync(CallTimeout);
            tcp.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            try
            {
                // Kestrel may reset the connection instead of delivering the 400: the client left anyway.
                await stream.CopyToAsync(Stream.Null).WaitAsync(CallTimeout);
            }
            catch (IOException)
            {
            }
        }

        using var client = service.CreateClient();
        await AssertStillServesAsync(client);
        Assert.Empty(errors.Entries);
    }

    [Theory]
    [InlineData("FilterService:MaxBatchItems", "0", "FilterService:MaxBatchItems = 0 is out of range [1, 1000000].")]
    [InlineData("FilterService:MaxStateBytesPerRequest", "0", "FilterService:MaxStateBytesPerRequest = 0 is out of range [1, 2147483647].")]
    // a long, beyond the int range it is checked against
    [InlineData("FilterService:MaxStateBytesPerRequest", "3000000000", "FilterService:MaxStateBytesPerRequest = 3000000000 is out of range [1, 2147483647].")]
    // plus the drain allowance it would overflow
    [InlineData("FilterService:MaxRequestBodyBytes", "9223372036854775807", "FilterService:MaxRequestBodyBytes = 9223372036854775807 is out of range [1, 1073741824].")]
    [InlineData("FilterService:MaxConnections", "0", "FilterService:MaxConnections = 0 is out of range [1, 1000000].")]
    [InlineData("FilterService:MaxWaitingBodyBytes", "1048575", "FilterService:MaxWaitingBodyBytes = 1048575 is out of range [1048576, 1073741824].")]
    // one byte short of a 2 MiB small body's 2 * 2 MiB + 1 MiB: not a range of its own, a rule between settings
    [InlineData("FilterService:MaxWaitingBodyBytes", "5242879", "FilterService:MaxWaitingBodyBytes = 5242879 cannot take one small body")]
    [InlineData("FilterService:LargeBodyMinBytesPerSecond", "-1", "FilterService:LargeBodyMinBytesPerSecond = -1 is out of range [0, 1073741824].")]
    // Kestrel checks rates once a second: the grace must be longer
    [InlineData("FilterService:LargeBodyMinRateGracePeriod", "00:00:01", "FilterService:LargeBodyMinRateGracePeriod = 00:00:01 is out of range [00:00:01.001, 00:10:00].")]
    // The other ranges docs/filter-api.md's Limits table gives, each just past its bound, in the one form every
    // service's settings use (SettingRangeAttribute; until 2026-12-05 eight of these said "must be between a and b").
    [InlineData("FilterService:MaxBatchItems", "1000001", "FilterService:MaxBatchItems = 1000001 is out of range [1, 1000000].")]
    [InlineData("FilterService:MaxSamplesPerRequest", "0", "FilterService:MaxSamplesPerRequest = 0 is out of range [1, 67108864].")]
    [InlineData("FilterService:MaxSamplesPerRequest", "67108865", "FilterService:MaxSamplesPerRequest = 67108865 is out of range [1, 67108864].")]
    [InlineData("FilterService:MaxConcurrentRequests", "1025", "FilterService:MaxConcurrentRequests = 1025 is out of range [1, 1024].")]
    [InlineData("FilterService:MaxConcurrentSmallRequests", "0", "FilterService:MaxConcurrentSmallRequests = 0 is out of range [1, 1024].")]
    [InlineData("FilterService:SmallRequestBytes", "-1", "FilterService:SmallRequestBytes = -1 is out of range [0, 9223372036854775807].")]
    [InlineData("FilterService:LargeRequestNice", "20", "FilterService:LargeRequestNice = 20 is out of range [0, 19].")]
    [InlineData("FilterService:RequestQueueLimit", "100001", "FilterService:RequestQueueLimit = 100001 is out of range [0, 100000].")]
    [InlineData("FilterService:RequestQueueTimeout", "00:10:01", "FilterService:RequestQueueTimeout = 00:10:01 is out of range [00:00:00, 00:10:00].")]
    [InlineData("FilterService:RequestTimeout", "00:00:00.900", "FilterService:RequestTimeout = 00:00:00.9000000 is out of range [00:00:01, 01:00:00].")]
    [InlineData("FilterService:MaxConnections", "1000001", "FilterService:MaxConnections = 1000001 is out of range [1, 1000000].")]
    [InlineData("FilterService:MaxRequestHeadersBytes", "16383", "FilterService:MaxRequestHeadersBytes = 16383 is out of range [16384, 16777216].")]
    [InlineData("FilterService:MaxReadAheadBytes", "67108865", "FilterService:MaxReadAheadBytes = 67108865 is out of range [32768, 67108864].")]
    public async Task ABadLimitSettingStopsTheServiceAtStartNamingIt(string setting, string value, string message)
    {
        var ex = await Record.ExceptionAsync(async () =>
        {
            await using var service = await StartServiceAsync((setting, value));
        });

        // The form of every service's refusals (the generated validator's), as the service's one line at start gives it
        // (ServiceStartFailureTests): before 2026-12-05, "DataAnnotation validation failed for 'FilterServiceOptions' members: ...".
        Assert.NotNull(ex);
        var described = ServiceFailure.Describe(ex);
        Assert.StartsWith($"{setting[(setting.IndexOf(':', StringComparison.Ordinal) + 1)..]}: {setting} = ", described);
        Assert.Contains(message, described);
    }

    [Fact]
    public async Task AlgorithmsShowsUnboundedSidesAsNullAndInf()
    {
        await using var service = await StartServiceAsync();
        using var client = service.CreateClient();
        using var json = JsonDocument.Parse(await client.GetStringAsync("/algorithms").WaitAsync(CallTimeout));
        var kalman = json.RootElement.GetProperty("algorithms").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "kalman")
            .GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);

        Assert.Equal(JsonValueKind.Null, kalman["q"].GetProperty("max").ValueKind);
        Assert.Equal(0, kalman["q"].GetProperty("min").GetDouble());
        Assert.Equal("(0, inf)", kalman["q"].GetProperty("range").GetString());
        Assert.Equal(JsonValueKind.Null, kalman["x0"].GetProperty("min").ValueKind);
        Assert.Equal("(-inf, inf)", kalman["x0"].GetProperty("range").GetString());
        Assert.DoesNotContain("E+308", json.RootElement.GetRawText(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void TheLsCoefficientCacheIsBounded()
    {
        for (var window = 2; window < 2 + 2 * SignalPipeline.Filters.LsCoefficients.MaxCachedPairs; window++)
        {
            SignalPipeline.Filters.FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = window, ["degree"] = 1 })
                .Process([0.1, 0.2, 0.3], new double[3]);
            Assert.True(SignalPipeline.Filters.LsCoefficients.CachedPairs <= SignalPipeline.Filters.LsCoefficients.MaxCachedPairs);
        }
    }

    [Fact]
    public void TheLsCoefficientCacheHoldsAtMostMaxCachedBytesOfRows()
    {
        // Each pair at window 1024 that starts at its first sample computes all 1024 rows (~4.2 MB): the eleven degrees are
        // ~46 MB, well past the 32 MiB bound, which the cache never passes; the gauge reads the same figure.
        using var meters = new SignalPipeline.Tests.FilterKafkaProcessor.TestMeterFactory();
        using var gauge = DocumentedMetric.Collect<long>(meters, "SignalPipeline.FilterService", "signalpipeline.filter.ls_cache.bytes");
        _ = new global::FilterService.FilterServiceMetrics(meters);
        gauge.AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "By");
        var signal = Enumerable.Range(0, 1100).Select(i => Math.Sin(i * 0.01)).ToArray();
        var largest = 0L;
        for (var degree = 0; degree <= 10; degree++)
        {
            SignalPipeline.Filters.FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 1024, ["degree"] = degree })
                .Process(signal, new double[signal.Length]);
            var bytes = SignalPipeline.Filters.FilterCaches.LsCoefficientBytes;
            Assert.InRange(bytes, 0, SignalPipeline.Filters.LsCoefficients.MaxCachedBytes);
            Assert.Equal(bytes, DocumentedMetric.Sum(gauge));
            largest = Math.Max(largest, bytes);
        }

        Assert.True(largest > 16L << 20, $"the cache held at most {largest} bytes: rows are not counted");
    }

    internal static async Task<HttpResponseMessage> PostJsonContentAsync(HttpClient client, HttpContent content)
    {
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return await client.PostAsync("/kalman/audio/run", content).WaitAsync(CallTimeout);
    }

    private static TimeSpan ProcessCpuTime()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    /// <summary>A body that tells when all of it has been handed to the connection.</summary>
    internal sealed class SentContent(byte[] bytes) : HttpContent
    {
        private readonly TaskCompletionSource _sent = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Sent => _sent.Task;

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(bytes);
            await stream.FlushAsync();
            _sent.TrySetResult();
        }

        protected override bool TryComputeLength(out long length)
        {
            length = bytes.Length;
            return true;
        }
    }

    /// <summary>A body whose first byte goes out at once and the rest only after <see cref="Release"/>.</summary>
    internal sealed class HeldContent(string json) : HttpContent
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Started => _started.Task;

        public void Release() => _release.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            await stream.WriteAsync(bytes.AsMemory(0, 1));
            await stream.FlushAsync();
            _started.TrySetResult();
            await _release.Task.WaitAsync(CallTimeout);
            await stream.WriteAsync(bytes.AsMemory(1));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = Encoding.UTF8.GetByteCount(json);
            return true;
        }
    }
}
