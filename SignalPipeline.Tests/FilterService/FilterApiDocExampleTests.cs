using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SignalPipeline.Tests.FilterGateway;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>
/// docs/filter-api.md's examples and request rules, as written there, against an in-process service: the answers the
/// page shows, the content types it takes, the properties it refuses and the problem types it names. One service serves
/// every test of the class (the API keeps nothing between calls).
/// </summary>
public sealed class FilterApiDocExampleTests(FilterApiDocExampleTests.Service service) : IClassFixture<FilterApiDocExampleTests.Service>
{
    private readonly HttpClient _client = service.Client;

    /// <summary>One in-process service shared by the tests of this class.</summary>
    public sealed class Service : IAsyncLifetime
    {
        private InProcessHost _host = null!;

        public HttpClient Client { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            _host = await FilterServiceLimitsTests.StartServiceAsync();
            Client = _host.CreateClient();
        }

        public async Task DisposeAsync()
        {
            Client.Dispose();
            await _host.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_pages_example_answers_begin_as_shown()
    {
        var (filtered, state) = await RunAsync(_client, "kalman", [0.2, 0.9, -0.8, 0.7, -0.6]);
        Assert.Equal("0.1980198215859249", filtered[0].ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Assert.StartsWith("U1BGUwEAAQQ", state);

        var (withParams, _) = await RunAsync(_client, "kalman", [0.2, 0.9, -0.8], paramsJson: """{"q": 1e-4, "r": 0.05}""");
        Assert.Equal(0.19047709741929342, withParams[0]);

        var (_, rlsState) = await RunAsync(_client, "rls", [0.2, 0.9, -0.8], paramsJson: """{"order": 4}""");
        Assert.StartsWith("U1BGUwEAAgM", rlsState);
    }

    [Fact]
    public async Task The_JSON_form_ignores_the_query_and_takes_any_json_media_type_or_none()
    {
        var expected = Reference("kalman", [0.2, 0.9]);

        foreach (var mediaType in new[] { "application/json", "application/problem+json", "APPLICATION/JSON; charset=utf-8", null })
        {
            using var content = new ByteArrayContent("""{"signal":[0.2, 0.9]}"""u8.ToArray());
            if (mediaType is not null)
            {
                content.Headers.TryAddWithoutValidation("Content-Type", mediaType);
            }

            // The query is not read in the JSON form: a value that would be refused as a parameter changes nothing.
            using var response = await _client.PostAsync("/kalman/audio/run?q=abc&window=0", content).WaitAsync(CallTimeout);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{mediaType}: {(int)response.StatusCode} {text}");
            using var json = JsonDocument.Parse(text);
            AssertBitIdentical(expected, ReadSignal(json.RootElement.GetProperty("filtered_signal")));
        }
    }

    [Theory]
    [InlineData("/kalman/audio/run", "text/plain", "/audio/run takes application/json or application/octet-stream (docs/filter-api.md), not 'text/plain'.")]
    [InlineData("/kalman/audio/run", "application/x-www-form-urlencoded", "not 'application/x-www-form-urlencoded'")]
    [InlineData("/kalman/audio/batch", "application/octet-stream",
        "/audio/batch takes application/json or application/vnd.signalpipeline.filter-batch (docs/filter-api.md), not 'application/octet-stream'.")]
    public async Task Another_content_type_gets_415_naming_what_the_endpoint_takes(string path, string mediaType, string detail)
    {
        using var content = new ByteArrayContent("""{"signal":[0.2]}"""u8.ToArray());
        content.Headers.TryAddWithoutValidation("Content-Type", mediaType);
        using var response = await _client.PostAsync(path, content).WaitAsync(CallTimeout);

        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, detail);
    }

    [Theory]
    [InlineData("/kalman/audio/run", """{"signal":[0.2],"signal":[0.9]}""", "'signal' is given twice.")]
    [InlineData("/kalman/audio/run", """{"signal":[0.2],"state":null,"state":null}""", "'state' is given twice.")]
    [InlineData("/kalman/audio/run", """{"signal":[0.2],"params":{},"params":{}}""", "'params' is given twice.")]
    [InlineData("/kalman/audio/run", """{"signal":[0.2],"params":{"q":1e-4,"Q":2e-4}}""", "'params.Q' is given twice (parameter names are case-insensitive).")]
    [InlineData("/kalman/audio/batch", """{"items":[{"signal":[0.2]}],"items":[{"signal":[0.9]}]}""", "'items' is given twice.")]
    [InlineData("/kalman/audio/batch", """{"items":[{"signal":[0.2],"signal":[0.9]}]}""", "'items[0].signal' is given twice.")]
    [InlineData("/kalman/audio/batch", """{"items":[{"signal":[0.2],"params":{"q":1}}]}""", "'items[0].params' is not supported")]
    public async Task A_property_given_twice_or_out_of_place_gets_400_naming_it(string path, string body, string detail)
    {
        using var response = await PostJsonAsync(_client, path, body);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail, type: "https://tools.ietf.org/html/rfc9110#section-15.5.1");
    }

    [Theory]
    [InlineData("""{"signal": [0.2, 0.9 -0.8]}""",
        "Malformed JSON: '-' is invalid after a value. Expected either ',', '}', or ']'. LineNumber: 0 | BytePositionInLine: 21.")]
    [InlineData("""{"signal": [0.2], "state": "\udc00"}""", "Malformed JSON: Cannot read invalid UTF-16 JSON text as string. Invalid surrogate value: '0xDC00'.")]
    [InlineData("", "The request body is empty: send a JSON object such as {\"signal\":[0.2, 0.9]}.")]
    [InlineData("""{"params": {}}""", "'signal' is missing: send {\"signal\":[numbers]}.")]
    [InlineData("""{"signal": [0.2, "0.9"]}""", "signal[1] is not a number (a string).")]
    [InlineData("""{"signal": [0.2, 1e400]}""", "signal[1] is not a finite double-precision number.")]
    [InlineData("""{"signal": [0.2], "state": "not base64!"}""", "'state' must be the base64 string returned by a previous call.")]
    [InlineData("""{"signal": [0.2], "params": {"gain": 1}}""", "Unknown parameter 'gain' for algorithm 'kalman'. Known: q, r, x0, p0.")]
    public async Task The_error_tables_example_details_are_the_services_words(string body, string detail)
    {
        using var response = await PostJsonAsync(_client, "/kalman/audio/run", body);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
    }

    /// <summary>
    /// The error table's limit rows at the default settings, word for word as the page quotes them: the 413s for a body
    /// over MaxRequestBodyBytes (declared and chunked), more than MaxBatchItems items or MaxSamplesPerRequest samples,
    /// and the 400s for a binary body of 7 bytes and for the fixed bounds on <c>params</c>.
    /// </summary>
    [Fact]
    public async Task The_error_tables_limit_examples_are_the_services_words()
    {
        var overLimit = new byte[16 * 1024 * 1024 + 8];
        using (var declared = await PostBytesAsync("/kalman/audio/run", overLimit, "application/octet-stream", chunked: false))
        {
            await AssertProblemAsync(declared, HttpStatusCode.RequestEntityTooLarge,
                "The request body is 16777224 bytes; the limit (FilterService:MaxRequestBodyBytes) is 16777216 bytes.");
        }

        using (var chunked = await PostBytesAsync("/kalman/audio/run", overLimit, "application/octet-stream", chunked: true))
        {
            await AssertProblemAsync(chunked, HttpStatusCode.RequestEntityTooLarge,
                "The request body exceeds the limit (FilterService:MaxRequestBodyBytes) of 16777216 bytes.");
        }

        var items = "{\"items\":[" + string.Join(",", Enumerable.Repeat("""{"signal":[0.2]}""", 4097)) + "]}";
        using (var batch = await PostJsonAsync(_client, "/kalman/audio/batch", items))
        {
            await AssertProblemAsync(batch, HttpStatusCode.RequestEntityTooLarge,
                "The batch has more than 4096 items; the limit (FilterService:MaxBatchItems) is 4096 items per request.");
        }

        var samples = "{\"signal\":[" + string.Join(",", Enumerable.Repeat("0", 2097153)) + "]}";
        using (var run = await PostJsonAsync(_client, "/kalman/audio/run", samples))
        {
            await AssertProblemAsync(run, HttpStatusCode.RequestEntityTooLarge,
                "The request carries more than 2097152 samples; the limit (FilterService:MaxSamplesPerRequest) is 2097152 samples.");
        }

        using (var seven = await PostBytesAsync("/kalman/audio/run", new byte[7], "application/octet-stream", chunked: false))
        {
            await AssertProblemAsync(seven, HttpStatusCode.BadRequest,
                "An application/octet-stream body must be a non-empty whole number of little-endian float64 samples; got 7 bytes.");
        }

        using (var longName = await PostJsonAsync(_client, "/kalman/audio/run", "{\"signal\":[0.2],\"params\":{\"" + new string('a', 1048576) + "\":1}}"))
        {
            await AssertProblemAsync(longName, HttpStatusCode.BadRequest,
                "'params' has a name of 1048576 bytes: parameter names are at most 64 bytes.");
        }

        var entries = string.Join(",", Enumerable.Range(0, 33).Select(i => $"\"p{i}\":1"));
        using (var many = await PostJsonAsync(_client, "/kalman/audio/run", "{\"signal\":[0.2],\"params\":{" + entries + "}}"))
        {
            await AssertProblemAsync(many, HttpStatusCode.BadRequest, "'params' has more than 32 entries: no algorithm has that many parameters.");
        }
    }

    private async Task<HttpResponseMessage> PostBytesAsync(string path, byte[] body, string mediaType, bool chunked)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new(mediaType);
        // Without a Content-Length: the service finds the body too large while reading it.
        request.Headers.TransferEncodingChunked = chunked;
        return await _client.SendAsync(request).WaitAsync(CallTimeout);
    }

    [Fact]
    public async Task The_error_tables_state_and_algorithm_examples_are_the_services_words()
    {
        var (_, kalmanState) = await RunAsync(_client, "kalman", [0.2]);
        using var otherAlgorithm = await PostJsonAsync(_client, "/rls/audio/run", RunBody([0.2], kalmanState));
        await AssertProblemAsync(otherAlgorithm, HttpStatusCode.BadRequest, "Filter state belongs to algorithm 'kalman', not 'rls'.");

        using var unknown = await PostJsonAsync(_client, "/median/audio/run", """{"signal": [0.2]}""");
        await AssertProblemAsync(unknown, HttpStatusCode.NotFound, "Unknown filter algorithm 'median'. Known: kalman, rls, ls, lms.");

        using var badItem = await PostJsonAsync(_client, "/rls/audio/batch", """{"items":[{"signal":[0.1]},{"signal":[0.1,0.2,0.3,"x"]}]}""");
        await AssertProblemAsync(badItem, HttpStatusCode.BadRequest, "items[1].signal[3] is not a number (a string).");
    }

    [Fact]
    public async Task Other_properties_are_ignored_down_to_16_levels_and_deeper_is_malformed_JSON()
    {
        // The request object is the first level; "extra" holds the other 15 (16 in all), or 16 (17 in all).
        using var sixteen = await PostJsonAsync(_client, "/kalman/audio/run", $$"""{"extra":{{Nested(15)}},"signal":[0.2]}""");
        Assert.Equal(HttpStatusCode.OK, sixteen.StatusCode);

        using var seventeen = await PostJsonAsync(_client, "/kalman/audio/run", $$"""{"extra":{{Nested(16)}},"signal":[0.2]}""");
        await AssertProblemAsync(seventeen, HttpStatusCode.BadRequest, "Malformed JSON");

        static string Nested(int levels) => new string('[', levels) + new string(']', levels);
    }

    [Fact]
    public async Task The_binary_form_answers_with_the_state_and_algorithm_headers_and_the_same_state_as_JSON()
    {
        double[] signal = [0.2, 0.9, -0.8, 0.7, -0.6];

        var bytes = new byte[signal.Length * sizeof(double)];
        Buffer.BlockCopy(signal, 0, bytes, 0, bytes.Length);
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await _client.PostAsync("/ls/audio/run?window=9&degree=1", content).WaitAsync(CallTimeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ls", response.Headers.GetValues("X-Filter-Algorithm").Single());
        var (_, jsonState) = await RunAsync(_client, "ls", signal, paramsJson: """{"window": 9, "degree": 1}""");
        Assert.Equal(jsonState, response.Headers.GetValues("X-Filter-State").Single());
    }

    [Fact]
    public async Task Algorithms_shows_an_unbounded_side_as_null_and_inf()
    {
        var text = await _client.GetStringAsync("/algorithms").WaitAsync(CallTimeout);

        Assert.Contains("""{"name":"q","description":"Process noise variance.","default":1E-05,"min":0,"max":null,"min_exclusive":true,"max_exclusive":false,"integer":false,"range":"(0, inf)"}""", text);
        using var json = JsonDocument.Parse(text);
        var kalman = json.RootElement.GetProperty("algorithms").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "kalman");
        var x0 = kalman.GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "x0");
        Assert.Equal(("(-inf, inf)", JsonValueKind.Null, JsonValueKind.Null),
            (x0.GetProperty("range").GetString(), x0.GetProperty("min").ValueKind, x0.GetProperty("max").ValueKind));
        var lambda = json.RootElement.GetProperty("algorithms").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "rls")
            .GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "lambda");
        Assert.Equal("(0, 1]", lambda.GetProperty("range").GetString());
    }

    [Fact]
    public async Task A_refusal_is_problem_json_whatever_the_Accept_with_the_RFC_section_as_its_type()
    {
        foreach (var accept in new[] { "application/vnd.signalpipeline.filter-batch", "text/html", "*/*" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/batch")
            {
                Content = new StringContent("""{"items":[]}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.TryAddWithoutValidation("Accept", accept);
            using var response = await _client.SendAsync(request).WaitAsync(CallTimeout);
            if (accept == "text/html")
            {
                await AssertProblemAsync(response, HttpStatusCode.NotAcceptable, "the Accept header 'text/html' takes neither");
            }
            else
            {
                await AssertProblemAsync(response, HttpStatusCode.BadRequest, "'items' is missing or empty", "https://tools.ietf.org/html/rfc9110#section-15.5.1");
            }
        }

        using var overflow = await PostJsonAsync(_client, "/kalman/audio/run", RunBody([1.7e308, -1.7e308, 1.7e308]));
        await AssertProblemAsync(overflow, HttpStatusCode.UnprocessableEntity, "the kalman filter's output at sample 1 is not finite",
            "https://tools.ietf.org/html/rfc4918#section-11.2");
    }

    /// <summary>
    /// docs/filter-api.md's table of malformed binary batches, row by row: each body is written by hand to give the row's
    /// example <c>detail</c> (u32 and float64 little-endian, as the page lays them out), and each gets 400 problem+json
    /// with exactly those words.
    /// </summary>
    public static TheoryData<string, string, byte[], string> MalformedBinaryBatches => new()
    {
        { "shorter than 4 bytes", "", Bytes(),
            "A application/vnd.signalpipeline.filter-batch body starts with a little-endian u32 item count; got 0 bytes." },
        { "count = 0", "", Bytes(0u), "The item count is 0: a batch needs at least one item." },
        { "count larger than the body can hold", "", Bytes(1000u, 0u, 0u, 0.2),
            "The item count 1000 cannot fit in a 20-byte body (each item takes at least 16 bytes)." },
        { "body ends inside an item's header", "", Bytes(2u, 3u, 0u, 0.2, 0.9, -0.8, 1u),
            "items[1]: the body ends inside the item's header (byte 36 of 40; a header takes 8 bytes)." },
        { "n = 0", "", Bytes(1u, 0u, 0u, 0.2), "items[0]: the sample count is 0: send at least one sample." },
        { "s past the end", "", Bytes(1u, 1u, 500u, 0.2),
            "items[0]: the state length 500 runs past the end of the body (8 bytes left)." },
        { "samples past the end", "", Bytes(2u, 1u, 0u, 0.2, 5u, 0u, 0.9, -0.8),
            "items[1]: 5 samples need 40 bytes, but only 16 are left in the body." },
        { "a NaN or infinity", "", Bytes(2u, 1u, 0u, 0.2, 3u, 0u, 0.9, -0.8, double.NaN),
            "items[1].signal[2] is not a finite number (NaN or infinity)." },
        { "bytes after the last item", "", Bytes(1u, 1u, 0u, 0.2, new byte[3]),
            "3 trailing bytes after the last item (items[0]): the body must end there." },
        { "query value not a number", "?order=abc", Bytes(1u, 1u, 0u, 0.2), "Query parameter 'order' must be a finite number; got 'abc'." },
        { "a query name given twice", "?order=4&order=5", Bytes(1u, 1u, 0u, 0.2),
            "Query parameter 'order' is given twice (parameter names are case-insensitive)." },
        { "a state in the query", "?State=AAAA", Bytes(1u, 1u, 0u, 0.2),
            "A binary batch carries each item's state in the body (s bytes after the item's n); the 'state' query parameter is only for the binary /audio/run." },
    };

    [Theory]
    [MemberData(nameof(MalformedBinaryBatches))]
    public async Task A_malformed_binary_batch_gets_400_with_the_binary_batch_tables_detail(string row, string query, byte[] body, string detail)
    {
        var (status, mediaType, answer) = await PostBinaryBatchAsync(_client, "/rls/audio/batch" + query, body);

        Assert.True(status == HttpStatusCode.BadRequest, $"{row}: {(int)status} {Encoding.UTF8.GetString(answer)}");
        Assert.Equal("application/problem+json", mediaType);
        using var json = JsonDocument.Parse(answer);
        Assert.Equal(detail, json.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_binary_batch_item_with_another_algorithms_state_gets_400_naming_the_item()
    {
        var (_, kalmanState) = await RunAsync(_client, "kalman", [0.2]);

        var (status, _, answer) = await PostBinaryBatchAsync(_client, "/rls/audio/batch",
            BinaryBatchBody(([0.2, 0.9], Convert.FromBase64String(kalmanState))));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        using var json = JsonDocument.Parse(answer);
        Assert.Equal("items[0]: Filter state belongs to algorithm 'kalman', not 'rls'.", json.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_state_in_the_query_fits_up_to_rls_order_24_and_from_order_25_gets_Kestrels_empty_414()
    {
        // docs/filter-api.md: a binary state in the 'state' query value must fit Kestrel's 8 KiB request line once
        // URL-encoded (base64's '+' and '/' take 3 characters each, and a state's doubles have many: rls(24)'s 6,716
        // characters took 7,656, rls(25)'s 7,260 took 8,276); rls of order 25 and up must use X-Filter-State.
        var random = new Random(7);
        var signal = Enumerable.Range(0, 300).Select(n => Math.Sin(0.1 * n) + 0.1 * (random.NextDouble() - 0.5)).ToArray();
        foreach (var (order, fits) in new[] { (24, true), (25, false) })
        {
            var (_, state) = await RunAsync(_client, "rls", signal, paramsJson: $$"""{"order": {{order}}}""");
            using var content = new ByteArrayContent(BitConverter.GetBytes(0.5));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await _client.PostAsync($"/rls/audio/run?state={Uri.EscapeDataString(state)}", content).WaitAsync(CallTimeout);
            var body = await response.Content.ReadAsByteArrayAsync().WaitAsync(CallTimeout);

            if (fits)
            {
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"order {order}: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)}");
            }
            else
            {
                Assert.Equal((HttpStatusCode.RequestUriTooLong, 0), (response.StatusCode, body.Length));
            }
        }
    }

    /// <summary>A body from its parts: <c>uint</c> as u32, <c>double</c> as float64 (both little-endian), <c>byte[]</c> as is.</summary>
    private static byte[] Bytes(params object[] parts)
    {
        using var body = new MemoryStream();
        using var writer = new BinaryWriter(body);
        foreach (var part in parts)
        {
            switch (part)
            {
                case uint value:
                    writer.Write(value);
                    break;
                case double value:
                    writer.Write(value);
                    break;
                case byte[] value:
                    writer.Write(value);
                    break;
                default:
                    throw new ArgumentException($"not a body part: {part}");
            }
        }

        writer.Flush();
        return body.ToArray();
    }
}
