using System.Text;
using FilterService;

namespace SignalPipeline.Tests.FilterService;

/// <summary>The request parser on its own: no server, no filters.</summary>
public sealed class FilterRequestTests
{
    private static FilterRequest ParseRun(string json, SampleList samples) => FilterRequest.ParseRun(Encoding.UTF8.GetBytes(json), samples);

    [Fact]
    public void ReadsSignalParamsAndStateInAnyOrder()
    {
        using var samples = new SampleList(2);
        var request = ParseRun("""{"state":"AQID","extra":{"ignored":[1,2]},"params":{"q":1e-3,"order":8},"signal":[0.2, -0.9, 1E2, 0, -0.0, 5e-324]}""", samples);

        var item = Assert.Single(request.Items);
        Assert.Equal([0.2, -0.9, 100, 0, -0.0, 5e-324], samples.Span[item.Offset..(item.Offset + item.Length)].ToArray());
        Assert.True(double.IsNegative(samples.Span[4]));
        Assert.Equal([1, 2, 3], item.State);
        Assert.Equal(new Dictionary<string, double> { ["q"] = 1e-3, ["order"] = 8 }, request.Parameters);
    }

    [Fact]
    public void ReadsEscapedBase64State()
    {
        // System.Text.Json's default encoder writes '+' as \u002B; such a client's state must still be accepted.
        using var samples = new SampleList();
        var request = ParseRun("""{"signal":[1],"state":"\u002B/8="}""", samples);
        Assert.Equal(Convert.FromBase64String("+/8="), request.Items[0].State);
    }

    [Fact]
    public void NullStateAndParamsMeanAbsent()
    {
        using var samples = new SampleList();
        var request = ParseRun("""{"signal":[1],"state":null,"params":null}""", samples);
        Assert.Null(request.Items[0].State);
        Assert.Null(request.Parameters);
    }

    [Fact]
    public void ParsedNumbersRoundTripExactly()
    {
        var random = new Random(1);
        var values = Enumerable.Range(0, 5000).Select(_ => BitConverter.Int64BitsToDouble(random.NextInt64())).Where(double.IsFinite).ToArray();
        using var samples = new SampleList(1);
        ParseRun("{\"signal\":[" + string.Join(",", values.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "]}", samples);
        Assert.Equal(values.Select(BitConverter.DoubleToInt64Bits), samples.Span.ToArray().Select(BitConverter.DoubleToInt64Bits));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("  \n", "empty")]
    [InlineData("{\"signal\":[1,2]", "Malformed JSON")]
    [InlineData("{\"signal\":[1,2]} trailing", "Malformed JSON")]
    [InlineData("{\"signal\":[1,,2]}", "Malformed JSON")]
    [InlineData("{\"signal\":[NaN]}", "Malformed JSON")]
    [InlineData("42", "must be a JSON object")]
    [InlineData("{}", "'signal' is missing")]
    [InlineData("{\"signal\":[]}", "'signal' is empty")]
    [InlineData("{\"signal\":\"0.2,0.9\"}", "must be an array")]
    [InlineData("{\"signal\":[1,[2]]}", "signal[1] is not a number (an array)")]
    [InlineData("{\"signal\":[1,true]}", "signal[1] is not a number (a boolean)")]
    [InlineData("{\"signal\":[-1e309]}", "signal[0] is not a finite")]
    [InlineData("{\"signal\":[1],\"signal\":[2]}", "given twice")]
    [InlineData("{\"signal\":[1],\"state\":null,\"state\":\"AQ==\"}", "'state' is given twice")]
    [InlineData("{\"signal\":[1],\"params\":{\"q\":1},\"params\":{\"q\":2}}", "'params' is given twice")]
    [InlineData("{\"signal\":[1],\"params\":{\"q\":1,\"q\":2}}", "'params.q' is given twice")]
    [InlineData("{\"signal\":[1],\"params\":{\"q\":1,\"Q\":2}}", "'params.Q' is given twice (parameter names are case-insensitive)")]
    [InlineData("{\"signal\":[1],\"params\":[1]}", "'params' must be an object")]
    [InlineData("{\"signal\":[1],\"params\":{\"q\":null}}", "'params.q' must be a finite number")]
    [InlineData("{\"signal\":[1],\"state\":42}", "'state' must be the base64")]
    [InlineData("{\"signal\":[1],\"state\":\"***\"}", "'state' must be the base64")]
    // A lone surrogate escape: the reader accepts it, unescaping it (to compare a name, read a params name or decode
    // the state) fails.
    [InlineData("{\"\\udc00\":0,\"signal\":[1]}", "Malformed JSON")]
    [InlineData("{\"signal\":[1],\"params\":{\"\\ud800\":1}}", "Malformed JSON")]
    [InlineData("{\"signal\":[1],\"state\":\"\\udc00\"}", "Malformed JSON")]
    public void RejectsBadRunRequestsNamingWhatIsWrong(string json, string detailPart)
    {
        using var samples = new SampleList();
        var ex = Assert.Throws<FilterRequestException>(() => ParseRun(json, samples));
        Assert.Equal(400, ex.StatusCode);
        Assert.Contains(detailPart, ex.Message);
    }

    [Fact]
    public void ReadsBatchItemsIntoOneBuffer()
    {
        using var samples = new SampleList(1);
        var request = FilterRequest.ParseBatch(Encoding.UTF8.GetBytes(
            """{"items":[{"signal":[1,2,3]},{"state":"AQ==","signal":[4]},{"signal":[5,6]}],"params":{"window":5}}"""), samples);

        Assert.Equal([1.0, 2, 3, 4, 5, 6], samples.Span.ToArray());
        Assert.Equal([new FilterRequestItem(0, 3, null), new FilterRequestItem(3, 1, request.Items[1].State), new FilterRequestItem(4, 2, null)], request.Items);
        Assert.Equal([1], request.Items[1].State);
        Assert.Equal(5, request.Parameters!["window"]);
    }

    [Theory]
    [InlineData("{\"items\":[{\"signal\":[1]},{\"signal\":[]}]}", "'items[1].signal' is empty")]
    [InlineData("{\"items\":[{\"signal\":[1]},{\"signal\":[1,\"x\"]}]}", "items[1].signal[1] is not a number")]
    [InlineData("{\"items\":[{\"signal\":[1]},{}]}", "'items[1].signal' is missing")]
    [InlineData("{\"items\":[{\"signal\":[1]},[1]]}", "items[1] must be an object")]
    [InlineData("{\"items\":[{\"signal\":[1],\"state\":\"!\"}]}", "'items[0].state' must be the base64")]
    [InlineData("{\"items\":[{\"signal\":[1],\"params\":{}}]}", "'items[0].params' is not supported")]
    [InlineData("{\"items\":[]}", "'items' is missing or empty")]
    [InlineData("{\"params\":{}}", "'items' is missing or empty")]
    [InlineData("{\"items\":{}}", "'items' must be an array")]
    [InlineData("{\"items\":[{\"signal\":[1]}],\"items\":[{\"signal\":[2]}]}", "'items' is given twice")]
    [InlineData("{\"params\":{},\"items\":[{\"signal\":[1]}],\"params\":{\"q\":1}}", "'params' is given twice")]
    [InlineData("{\"items\":[{\"signal\":[1],\"state\":\"AQ==\",\"state\":null}]}", "'items[0].state' is given twice")]
    [InlineData("{\"\\udc00\":0,\"items\":[{\"signal\":[1]}]}", "Malformed JSON")]
    [InlineData("{\"items\":[{\"\\ud800x\":0,\"signal\":[1]}]}", "Malformed JSON")]
    [InlineData("{\"params\":{\"\\udc00\":1},\"items\":[{\"signal\":[1]}]}", "Malformed JSON")]
    [InlineData("{\"items\":[{\"signal\":[1],\"state\":\"AQ\\ud800\"}]}", "Malformed JSON")]
    public void RejectsBadBatchesNamingTheItem(string json, string detailPart)
    {
        using var samples = new SampleList();
        var ex = Assert.Throws<FilterRequestException>(() => FilterRequest.ParseBatch(Encoding.UTF8.GetBytes(json), samples));
        Assert.Contains(detailPart, ex.Message);
    }

    [Fact]
    public void ABinaryBatchCountTheBodyCannotHoldIs400EvenPastMaxBatchItems()
    {
        // count = 2^32 - 1 in a 20-byte body: malformed, not a batch too large to serve.
        var body = new byte[20];
        BitConverter.TryWriteBytes(body, uint.MaxValue);
        using var samples = new SampleList();
        var ex = Assert.Throws<FilterRequestException>(() => BinaryBatch.ParseRequest(body, null, samples, maxItems: 4096));
        Assert.Equal(400, ex.StatusCode);
        Assert.Contains("item count 4294967295 cannot fit in a 20-byte body", ex.Message);
    }
}
