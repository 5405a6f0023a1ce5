using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FilterService;
using Microsoft.Extensions.DependencyInjection;
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
    public async Task BeyondMaxConcurrentSmallRequestsAndTheQueueTheAnswerIs503WithRetryAfter()
    {
        await using var service = await StartServiceAsync(
            ("FilterService:MaxConcurrentSmallRequests", "1"), ("FilterService:RequestQueueLimit", "1"), ("FilterService:RequestQueueTimeout", "00:00:00.5"));
        using var client = service.CreateClient();

        // The slot is taken before the body is read: a request whose body is held back holds it.
        var held = new HeldContent("""{"signal":[0.2,0.9]}""");
        var holder = PostJsonContentAsync(client, held);
        await held.Started.WaitAsync(CallTimeout);
        var metrics = service.App.Services.GetRequiredService<FilterServiceMetrics>();
        for (var waited = 0; metrics.ActiveRequests == 0; waited += 10)
        {
            Assert.True(waited < 30_000, "the held request never took its slot");
            await Task.Delay(10);
        }

        // The queue holds one request for 0.5 s, then it is answered 503.
        using var queued = await PostJsonAsync(client, "/kalman/audio/run", RunBody([0.5]));
        Assert.NotNull(queued.Headers.RetryAfter);
        await AssertProblemAsync(queued, HttpStatusCode.ServiceUnavailable, "FilterService:MaxConcurrentSmallRequests");

        held.Release();
        using (var first = await holder.WaitAsync(CallTimeout))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        await AssertStillServesAsync(client);
    }

    /// <summary>One slot for large requests (over 16 bytes declared), no queue.</summary>
    private static readonly (string, string)[] OneLargeSlotNoQueue =
        [("FilterService:MaxConcurrentRequests", "1"), ("FilterService:RequestQueueLimit", "0"), ("FilterService:SmallRequestBytes", "16")];

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
        using var client = service.CreateClient();

        // rls order 64 over 2 Mi samples takes many seconds: the timeout stops it between two slices of the run.
        using var content = new ByteArrayContent(new byte[2 * 1024 * 1024 * sizeof(double)]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var slow = await client.PostAsync("/rls/audio/run?order=64", content).WaitAsync(CallTimeout);
        Assert.NotNull(slow.Headers.RetryAfter);
        await AssertProblemAsync(slow, HttpStatusCode.ServiceUnavailable, "FilterService:RequestTimeout");

        // The one slot is free again (every request is "large" here): the stopped run is not still going.
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
        await using var service = await InProcessHost.StartAsync(new Dictionary<string, string?>(),
            builder =>
            {
                builder.AddFilterService();
                builder.Logging.AddProvider(errors);
            },
            app => app.MapFilterService());
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
    [InlineData("FilterService:MaxBatchItems", "0")]
    [InlineData("FilterService:MaxStateBytesPerRequest", "0")]
    [InlineData("FilterService:MaxStateBytesPerRequest", "3000000000")] // a long, beyond the int range it is checked against
    [InlineData("FilterService:MaxRequestBodyBytes", "9223372036854775807")] // plus the drain allowance it would overflow
    [InlineData("FilterService:MaxConnections", "0")]
    public async Task ABadLimitSettingStopsTheServiceAtStartNamingIt(string setting, string value)
    {
        var ex = await Record.ExceptionAsync(async () =>
        {
            await using var service = await StartServiceAsync((setting, value));
        });

        Assert.NotNull(ex);
        Assert.Contains(setting, (ex is AggregateException aggregate ? aggregate.InnerException! : ex).Message);
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
