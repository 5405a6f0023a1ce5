using System.Net;
using System.Text;
using System.Text.Json;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>The algorithm services' HTTP contract through the AppHost, through the gateway and directly.</summary>
[Collection(AppHostCollection.Name)]
public sealed class FilterServiceApiTests(AppHostFixture fixture) : IAsyncLifetime
{
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
