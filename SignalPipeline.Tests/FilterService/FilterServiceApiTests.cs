using System.Net;
using System.Text;
using System.Text.Json;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>The algorithm services' HTTP contract through the AppHost, through the gateway and directly.</summary>
[Collection(AppHostCollection.Name)]
[Trait("Category", TestCategory.AppHost)]
public sealed class FilterServiceApiTests(AppHostFixture shared, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly AppHostFixture fixture = shared.WithTestOutput(output);
    private HttpClient _gateway = null!;

    public static TheoryData<string> Algorithms => new() { "kalman", "rls", "ls", "lms" };

    public async Task InitializeAsync()
    {
        // The gateway waits for the three services, so it being healthy means all four are up.
        await fixture.WaitForHealthyAsync("filter-gateway");
        _gateway = fixture.CreateHttpClient("filter-gateway");
    }

    public Task DisposeAsync()
    {
        _gateway.Dispose();
        return Task.CompletedTask;
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task GuideCurlExampleWorksThroughTheGateway(string algorithm)
    {
        // Byte for byte the guide's request: curl -X POST http://HOST:8000/kalman/audio/run -H "Content-Type: application/json" -d '...'
        using var response = await PostJsonAsync(_gateway, $"/{algorithm}/audio/run", """{"signal": [0.2, 0.9, -0.8, 0.7, -0.6]}""");
        var text = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);

        using var json = JsonDocument.Parse(text);
        Assert.Equal(algorithm, json.RootElement.GetProperty("algorithm").GetString());
        AssertBitIdentical(Reference(algorithm, [0.2, 0.9, -0.8, 0.7, -0.6]), ReadSignal(json.RootElement.GetProperty("filtered_signal")));
        Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("state").GetString()));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task ChunkedCallsWithStateEqualOneCallBitForBit(string algorithm)
    {
        var signal = TestSignal(1500, seed: 3);
        var (whole, _) = await RunAsync(_gateway, algorithm, signal);
        AssertBitIdentical(Reference(algorithm, signal), whole);

        var random = new Random(algorithm.Length);
        var chunked = new List<double>();
        string? state = null;
        for (var start = 0; start < signal.Length;)
        {
            var length = Math.Min(signal.Length - start, random.Next(1, 400));
            var (filtered, next) = await RunAsync(_gateway, algorithm, signal[start..(start + length)], state);
            chunked.AddRange(filtered);
            state = next;
            start += length;
        }

        AssertBitIdentical(whole, [.. chunked]);
    }

    [Fact]
    public async Task ParamsAreAppliedAndKeptInTheState()
    {
        var signal = TestSignal(300, seed: 5);
        var parameters = new Dictionary<string, double> { ["q"] = 1e-3, ["r"] = 0.1 };
        var (first, state) = await RunAsync(_gateway, "kalman", signal[0..100], paramsJson: """{"q": 1e-3, "r": 0.1}""");
        // No params on the second call: the state carries them.
        var (second, _) = await RunAsync(_gateway, "kalman", signal[100..], state);
        AssertBitIdentical(Reference("kalman", signal, parameters), [.. first, .. second]);
        Assert.NotEqual(Reference("kalman", signal)[299], second[^1]);
    }

    [Fact]
    public async Task BatchEqualsIndividualCalls()
    {
        var a = TestSignal(200, seed: 11);
        var b = TestSignal(57, seed: 12);
        var (aFirst, aState) = await RunAsync(_gateway, "rls", a[0..120], paramsJson: """{"order": 4}""");

        // Item 0 continues stream a from its state; item 1 starts stream b with the batch's params.
        var body = $$"""{"params":{"order":4},"items":[{"signal":{{SignalJson(a.AsSpan(120))}},"state":"{{aState}}"},{"signal":{{SignalJson(b)}}}]}""";
        using var response = await PostJsonAsync(_gateway, "/rls/audio/batch", body);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        using var json = JsonDocument.Parse(text);
        Assert.Equal("rls", json.RootElement.GetProperty("algorithm").GetString());
        var results = json.RootElement.GetProperty("results");
        Assert.Equal(2, results.GetArrayLength());

        var (aRest, aRestState) = await RunAsync(_gateway, "rls", a[120..], aState);
        var (bAlone, bState) = await RunAsync(_gateway, "rls", b, paramsJson: """{"order": 4}""");
        AssertBitIdentical(aRest, ReadSignal(results[0].GetProperty("filtered_signal")));
        AssertBitIdentical(bAlone, ReadSignal(results[1].GetProperty("filtered_signal")));
        Assert.Equal(aRestState, results[0].GetProperty("state").GetString());
        Assert.Equal(bState, results[1].GetProperty("state").GetString());
        AssertBitIdentical(Reference("rls", a, new Dictionary<string, double> { ["order"] = 4 }), [.. aFirst, .. aRest]);
    }

    // Per algorithm: the same parameters as JSON (the JSON batch's "params") and as the binary batch's query string.
    public static TheoryData<string, string, string> BatchParams => new()
    {
        { "kalman", """{"q":0.001,"r":0.1}""", "?q=0.001&r=0.1" },
        { "rls", """{"order":4}""", "?order=4" },
        { "ls", """{"window":9,"degree":1}""", "?window=9&degree=1" },
        { "lms", "null", "" },
    };

    [Theory]
    [MemberData(nameof(BatchParams))]
    public async Task BinaryBatchEqualsJsonBatchBitForBit(string algorithm, string paramsJson, string query)
    {
        // Item 0 continues a stream from its state (which carries its params), items 1 and 2 start new streams with
        // the batch's params, item 3 is a one-sample stream.
        var a = TestSignal(700, seed: 21);
        var (_, aState) = await RunAsync(_gateway, algorithm, a[..300], paramsJson: paramsJson);
        double[][] signals = [a[300..], TestSignal(1000, seed: 22), TestSignal(33, seed: 23), [0.25]];
        string?[] states = [aState, null, null, null];

        var items = string.Join(",", signals.Select((signal, i) => "{\"signal\":" + SignalJson(signal) + (states[i] is { } st ? ",\"state\":\"" + st + "\"" : "") + "}"));
        using var jsonResponse = await PostJsonAsync(_gateway, $"/{algorithm}/audio/batch", $$"""{"params":{{paramsJson}},"items":[{{items}}]}""");
        var text = await jsonResponse.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
        Assert.True(jsonResponse.StatusCode == HttpStatusCode.OK, text);
        using var json = JsonDocument.Parse(text);
        var jsonResults = json.RootElement.GetProperty("results");

        var body = BinaryBatchBody([.. signals.Select((signal, i) => (signal, states[i] is { } st ? Convert.FromBase64String(st) : null))]);
        var (status, mediaType, answer) = await PostBinaryBatchAsync(_gateway, $"/{algorithm}/audio/batch{query}", body);
        Assert.True(status == HttpStatusCode.OK, $"{(int)status}: {Encoding.UTF8.GetString(answer)}");
        Assert.Equal(BatchMediaType, mediaType);
        var binaryResults = ReadBinaryBatch(answer);

        Assert.Equal(signals.Length, binaryResults.Count);
        for (var i = 0; i < signals.Length; i++)
        {
            AssertBitIdentical(ReadSignal(jsonResults[i].GetProperty("filtered_signal")), binaryResults[i].Filtered);
            Assert.Equal(jsonResults[i].GetProperty("state").GetString(), Convert.ToBase64String(binaryResults[i].State));
        }

        // And both equal the library: the stream with state continues the one started with params.
        var parameters = JsonSerializer.Deserialize<Dictionary<string, double>>(paramsJson);
        AssertBitIdentical(Reference(algorithm, a, parameters)[300..], binaryResults[0].Filtered);
        AssertBitIdentical(Reference(algorithm, signals[1], parameters), binaryResults[1].Filtered);
    }

    [Fact]
    public async Task GatewayForwardsTheBinaryBatchUnchanged()
    {
        var (_, state) = await RunAsync(_gateway, "lms", TestSignal(50, seed: 31));
        var body = BinaryBatchBody((TestSignal(400, seed: 32), Convert.FromBase64String(state)), (TestSignal(90, seed: 33), null));
        using var service = fixture.CreateHttpClient("filter-ls");
        var direct = await PostBinaryBatchAsync(service, "/lms/audio/batch?mu=0.05", body);
        var viaGateway = await PostBinaryBatchAsync(_gateway, "/lms/audio/batch?mu=0.05", body);
        Assert.True(direct.Status == HttpStatusCode.OK, Encoding.UTF8.GetString(direct.Body));
        Assert.Equal(HttpStatusCode.OK, viaGateway.Status);
        Assert.Equal(BatchMediaType, viaGateway.MediaType);
        Assert.Equal(direct.Body, viaGateway.Body);
        Assert.Equal(2, ReadBinaryBatch(viaGateway.Body).Count);
    }

    [Fact]
    public async Task JsonBatchAnswersInBinaryWhenAskedTo()
    {
        var signal = TestSignal(128, seed: 41);
        using var content = new StringContent($$"""{"items":[{"signal":{{SignalJson(signal)}}}]}""", Encoding.UTF8, "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/batch") { Content = content };
        request.Headers.Accept.ParseAdd(BatchMediaType);
        using var response = await _gateway.SendAsync(request).WaitAsync(CallTimeout);
        var answer = await response.Content.ReadAsByteArrayAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(answer));
        Assert.Equal(BatchMediaType, response.Content.Headers.ContentType?.MediaType);
        var (filtered, state) = Assert.Single(ReadBinaryBatch(answer));
        var (alone, aloneState) = await RunAsync(_gateway, "kalman", signal);
        AssertBitIdentical(alone, filtered);
        Assert.Equal(aloneState, Convert.ToBase64String(state));
    }

    private static byte[] Bytes(params object[] parts)
    {
        using var body = new MemoryStream();
        using var writer = new BinaryWriter(body);
        foreach (var part in parts)
        {
            switch (part)
            {
                case uint value: writer.Write(value); break;
                case double value: writer.Write(value); break;
                case byte[] value: writer.Write(value); break;
                default: throw new ArgumentException($"unexpected part {part}");
            }
        }

        writer.Flush();
        return body.ToArray();
    }

    public static TheoryData<string, string, byte[], string> BadBinaryBatches => new()
    {
        { "empty body", "", [], "got 0 bytes" },
        { "no items", "", Bytes(0u, new byte[16]), "item count is 0" },
        { "count larger than the body", "", Bytes(1000u, 1u, 0u, 0.5), "item count 1000 cannot fit in a 20-byte body" },
        { "body ends inside a header", "", Bytes(2u, 3u, 0u, 0.1, 0.2, 0.3, 7u), "items[1]: the body ends inside the item's header" },
        { "zero samples", "", Bytes(1u, 0u, 0u, 0.5), "items[0]: the sample count is 0" },
        { "state past the end", "", Bytes(1u, 1u, 500u, 0.5), "items[0]: the state length 500 runs past the end" },
        { "truncated samples", "", Bytes(2u, 1u, 0u, 0.5, 5u, 0u, 0.1, 0.2), "items[1]: 5 samples need 40 bytes, but only 16 are left" },
        { "NaN sample", "", Bytes(2u, 1u, 0u, 0.5, 3u, 0u, 0.1, 0.2, double.NaN), "items[1].signal[2] is not a finite number" },
        { "infinite sample", "", Bytes(1u, 2u, 0u, double.NegativeInfinity, 0.2), "items[0].signal[0] is not a finite number" },
        { "trailing bytes", "", Bytes(1u, 1u, 0u, 0.5, new byte[3]), "3 trailing bytes after the last item (items[0])" },
        { "corrupt state", "", Bytes(2u, 1u, 0u, 0.5, 1u, 10u, Convert.FromBase64String("AAECAwQFBgcICQ=="), 0.3), "items[1]: " },
        { "state of another algorithm", "", Bytes(1u, 1u, 0u, 0.5), "items[0]: Filter state belongs to algorithm 'kalman'" },
        { "bad query parameter", "?order=abc", Bytes(1u, 1u, 0u, 0.5), "Query parameter 'order'" },
        { "out-of-range parameter", "?order=0", Bytes(1u, 1u, 0u, 0.5), "Parameter 'order'" },
        { "query parameter given twice", "?order=8&ORDER=16", Bytes(1u, 1u, 0u, 0.5), "Query parameter 'ORDER' is given twice (parameter names are case-insensitive)." },
    };

    [Theory]
    [MemberData(nameof(BadBinaryBatches))]
    public async Task BadBinaryBatchesGet400NamingTheProblem(string why, string query, byte[] body, string detailPart)
    {
        Assert.NotEmpty(why);
        if (why == "state of another algorithm")
        {
            // A valid kalman state sent to rls.
            var (_, kalmanState) = await RunAsync(_gateway, "kalman", [0.1, 0.2]);
            body = BinaryBatchBody(([0.5], Convert.FromBase64String(kalmanState)));
        }

        foreach (var client in new[] { _gateway, fixture.CreateHttpClient("filter-rls") })
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new(BatchMediaType);
            using var response = await client.PostAsync($"/rls/audio/batch{query}", content).WaitAsync(CallTimeout);
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, detailPart);
            await AssertStillServesAsync(client);
        }
    }

    [Fact]
    public async Task BinaryBatchOverTheBodyLimitGets413AndOctetStreamGets415()
    {
        using var service = fixture.CreateHttpClient("filter-kalman");
        // One item of 2M samples: 16 MiB of samples plus headers, just over the service's 16 MiB limit.
        var body = new byte[4 + 8 + 2 * 1024 * 1024 * sizeof(double)];
        BitConverter.TryWriteBytes(body, 1u);
        BitConverter.TryWriteBytes(body.AsSpan(4), 2u * 1024 * 1024);
        using var large = new ByteArrayContent(body);
        large.Headers.ContentType = new(BatchMediaType);
        using var tooLarge = await service.PostAsync("/kalman/audio/batch", large).WaitAsync(CallTimeout);
        await AssertProblemAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, "FilterService:MaxRequestBodyBytes");

        using var octets = new ByteArrayContent(BinaryBatchBody(([0.5], null)));
        octets.Headers.ContentType = new("application/octet-stream");
        using var unsupported = await service.PostAsync("/kalman/audio/batch", octets).WaitAsync(CallTimeout);
        await AssertProblemAsync(unsupported, HttpStatusCode.UnsupportedMediaType, BatchMediaType);
        await AssertStillServesAsync(service);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public async Task OctetStreamEqualsJson(string algorithm)
    {
        var signal = TestSignal(4096, seed: 7);
        var (jsonFirst, jsonState) = await RunAsync(_gateway, algorithm, signal[0..1000]);
        var (jsonRest, _) = await RunAsync(_gateway, algorithm, signal[1000..], jsonState);

        var (binaryFirst, binaryState) = await RunBinaryAsync(_gateway, algorithm, signal[..1000]);
        Assert.Equal(jsonState, binaryState);
        var (binaryRest, _) = await RunBinaryAsync(_gateway, algorithm, signal[1000..], binaryState);
        AssertBitIdentical([.. jsonFirst, .. jsonRest], [.. binaryFirst, .. binaryRest]);
    }

    [Fact]
    public async Task BinaryParamsComeFromTheQuery()
    {
        var signal = TestSignal(256, seed: 9);
        var (filtered, _) = await RunBinaryAsync(_gateway, "ls", signal, query: "?window=9&degree=1");
        AssertBitIdentical(Reference("ls", signal, new Dictionary<string, double> { ["window"] = 9, ["degree"] = 1 }), filtered);
    }

    [Fact]
    public async Task AlgorithmsListsEveryAlgorithmWithParametersDefaultsAndRanges()
    {
        using var response = await _gateway.GetAsync("/algorithms").WaitAsync(CallTimeout);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        using var json = JsonDocument.Parse(text);
        var algorithms = json.RootElement.GetProperty("algorithms").EnumerateArray().ToDictionary(a => a.GetProperty("name").GetString()!);
        Assert.Equal(["kalman", "lms", "ls", "rls"], algorithms.Keys.Order());

        foreach (var descriptor in SignalPipeline.Filters.FilterFactory.Algorithms)
        {
            var parameters = algorithms[descriptor.Name].GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
            Assert.Equal(descriptor.Parameters.Select(p => p.Name).Order(), parameters.Keys.Order());
            foreach (var parameter in descriptor.Parameters)
            {
                Assert.Equal(parameter.Default, parameters[parameter.Name].GetProperty("default").GetDouble());
                Assert.False(string.IsNullOrEmpty(parameters[parameter.Name].GetProperty("range").GetString()));
            }
        }

        var kalman = algorithms["kalman"].GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "q");
        Assert.Equal(1e-5, kalman.GetProperty("default").GetDouble());
    }

    public static TheoryData<string, string, string> BadJsonRequests => new()
    {
        { "malformed JSON", """{"signal": [0.2, 0.9""", "Malformed JSON" },
        { "not JSON at all", "signal=0.2,0.9", "Malformed JSON" },
        { "root is an array", "[0.2, 0.9]", "must be a JSON object" },
        { "empty body", "", "empty" },
        { "missing signal", """{"params": {}}""", "'signal' is missing" },
        { "empty signal", """{"signal": []}""", "'signal' is empty" },
        { "signal not an array", """{"signal": 0.2}""", "must be an array" },
        { "string sample", """{"signal": [0.2, "0.9"]}""", "signal[1] is not a number" },
        { "null sample", """{"signal": [0.2, 0.9, null]}""", "signal[2] is not a number" },
        { "overflowing sample", """{"signal": [0.2, 1e400]}""", "signal[1] is not a finite" },
        { "unknown param", """{"signal": [0.2], "params": {"bogus": 1}}""", "bogus" },
        { "out-of-range param", """{"signal": [0.2], "params": {"r": -1}}""", "r" },
        { "non-numeric param", """{"signal": [0.2], "params": {"q": "small"}}""", "params.q" },
        { "state not base64", """{"signal": [0.2], "state": "not base64!"}""", "'state'" },
        { "corrupt state", """{"signal": [0.2], "state": "AAECAwQFBgcICQ=="}""", "" },
        { "lone surrogate escape in a name", """{"\udc00": 0, "signal": [0.2]}""", "Malformed JSON" },
        { "lone surrogate escape in a params name", """{"signal": [0.2], "params": {"\ud800": 1}}""", "Malformed JSON" },
        { "lone surrogate escape in the state", """{"signal": [0.2], "state": "\udc00"}""", "Malformed JSON" },
    };

    [Theory]
    [MemberData(nameof(BadJsonRequests))]
    public async Task BadRequestsGet400ProblemAndTheServiceGoesOn(string why, string body, string detailPart)
    {
        Assert.NotEmpty(why);
        foreach (var client in new[] { _gateway, fixture.CreateHttpClient("filter-kalman") })
        {
            using var response = await PostJsonAsync(client, "/kalman/audio/run", body);
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, detailPart);
            await AssertStillServesAsync(client);
        }
    }

    [Fact]
    public async Task StateOfAnotherAlgorithmGets400()
    {
        var (_, rlsState) = await RunAsync(_gateway, "rls", [0.2, 0.9, -0.8]);
        using var response = await PostJsonAsync(_gateway, "/kalman/audio/run", RunBody([0.7], rlsState));
        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertStillServesAsync(_gateway);
    }

    [Fact]
    public async Task BadBatchItemGets400NamingTheItem()
    {
        using var response = await PostJsonAsync(_gateway, "/ls/audio/batch", """{"items":[{"signal":[0.1,0.2]},{"signal":[0.3,"x"]}]}""");
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "items[1].signal[1]");

        using var badState = await PostJsonAsync(_gateway, "/ls/audio/batch", """{"items":[{"signal":[0.1]},{"signal":[0.3],"state":"AAECAwQFBgcICQ=="}]}""");
        await AssertProblemAsync(badState, HttpStatusCode.BadRequest, "items[1]");

        using var loneSurrogate = await PostJsonAsync(_gateway, "/ls/audio/batch", """{"items":[{"signal":[0.1],"state":"\udc00"}]}""");
        await AssertProblemAsync(loneSurrogate, HttpStatusCode.BadRequest, "Malformed JSON");

        using var empty = await PostJsonAsync(_gateway, "/ls/audio/batch", """{"items":[]}""");
        await AssertProblemAsync(empty, HttpStatusCode.BadRequest, "'items'");
        await AssertStillServesAsync(_gateway);
    }

    [Fact]
    public async Task BadBinaryBodiesGet400()
    {
        using var service = fixture.CreateHttpClient("filter-rls");
        foreach (var (bytes, detail) in new[] { (new byte[7], "7 bytes"), (BitConverter.GetBytes(double.NaN), "signal[0]"), (Array.Empty<byte>(), "0 bytes") })
        {
            using var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new("application/octet-stream");
            using var response = await service.PostAsync("/rls/audio/run", content).WaitAsync(CallTimeout);
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
        }

        using var badParam = new ByteArrayContent(new byte[16]);
        badParam.Headers.ContentType = new("application/octet-stream");
        using var paramResponse = await service.PostAsync("/rls/audio/run?order=abc", badParam).WaitAsync(CallTimeout);
        await AssertProblemAsync(paramResponse, HttpStatusCode.BadRequest, "'order'");
        await AssertStillServesAsync(service);
    }

    [Fact]
    public async Task UnknownAlgorithmGets404Problem()
    {
        using var service = fixture.CreateHttpClient("filter-ls");
        using var direct = await PostJsonAsync(service, "/median/audio/run", """{"signal": [0.2]}""");
        await AssertProblemAsync(direct, HttpStatusCode.NotFound, "median");

        // The gateway has no route for it at all.
        using var viaGateway = await PostJsonAsync(_gateway, "/median/audio/run", """{"signal": [0.2]}""");
        await AssertProblemAsync(viaGateway, HttpStatusCode.NotFound);
        await AssertStillServesAsync(service);
    }

    private static async Task AssertStillServesAsync(HttpClient client)
    {
        var (filtered, _) = await RunAsync(client, "kalman", [0.2, 0.9, -0.8, 0.7, -0.6]);
        AssertBitIdentical(Reference("kalman", [0.2, 0.9, -0.8, 0.7, -0.6]), filtered);
    }
}
