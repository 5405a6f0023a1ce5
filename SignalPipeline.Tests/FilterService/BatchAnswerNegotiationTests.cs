using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FilterService;
using Microsoft.Extensions.DependencyInjection;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>
/// <c>/audio/batch</c> answers in JSON or in the binary batch form as the request's <c>Accept</c> asks, by quality
/// (docs/filter-api.md, "Binary batch"): the most specific range naming a type gives its q, q=0 is "not acceptable",
/// the higher q wins, a tie or no Accept keeps the request's form, and a request that accepts neither gets 406.
/// </summary>
public sealed class BatchAnswerNegotiationTests
{
    private static readonly double[] Signal = [0.2, 0.9, -0.8, 0.7];

    public static TheoryData<bool, string?, string> Choices => new()
    {
        // A JSON request.
        { false, null, "application/json" },
        { false, "*/*", "application/json" },
        { false, BatchMediaType, BatchMediaType },
        { false, $"{BatchMediaType};q=0, application/json", "application/json" },
        { false, $"{BatchMediaType};q=0.4, application/json;q=0.8", "application/json" },
        { false, $"application/json;q=0.5, {BatchMediaType}", BatchMediaType },
        { false, $"application/*;q=0.2, {BatchMediaType};q=0.1", "application/json" },
        { false, "*/*;q=0.1, application/json;q=0", BatchMediaType },
        { false, "application/json; charset=utf-8", "application/json" },
        { false, "garbage;;;,", "application/json" }, // unparsable: read as absent
        // Partly unparsable: read as absent too (ASP.NET alone kept text/html, a 406), and a q that is no number (ASP.NET: 1).
        { false, "text/html, garbage;;;=", "application/json" },
        { true, "text/html, garbage;;;=", BatchMediaType },
        { true, "application/json;q=abc", BatchMediaType },
        // A binary request.
        { true, null, BatchMediaType },
        { true, "*/*", BatchMediaType },
        { true, "application/json", "application/json" },
        { true, $"{BatchMediaType};q=0, */*", "application/json" },
        { true, $"application/json;q=0.5, {BatchMediaType};q=0.5", BatchMediaType },
    };

    [Theory]
    [MemberData(nameof(Choices))]
    public async Task TheAnswerTakesTheAcceptedFormOfHighestQuality(bool binaryRequest, string? accept, string expected)
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();

        using var response = await PostBatchAsync(client, binaryRequest, accept);

        var body = await response.Content.ReadAsByteArrayAsync().WaitAsync(CallTimeout);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
        Assert.Equal(expected, response.Content.Headers.ContentType?.MediaType);
        var filtered = expected == BatchMediaType
            ? Assert.Single(ReadBinaryBatch(body)).Filtered
            : ReadSignal(Assert.Single(JsonDocument.Parse(body).RootElement.GetProperty("results").EnumerateArray()).GetProperty("filtered_signal"));
        AssertBitIdentical(Reference("kalman", Signal), filtered);
    }

    [Theory]
    [InlineData(false, "text/html")]
    [InlineData(false, "application/json;q=0")]
    [InlineData(false, $"application/json;q=0, {BatchMediaType};q=0")]
    [InlineData(true, $"{BatchMediaType};q=0")]
    [InlineData(true, $"*/*;q=0.5, application/*;q=0")]
    public async Task ARequestThatAcceptsNeitherFormGets406AndTheServiceGoesOn(bool binaryRequest, string accept)
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var rejected = DocumentedMetric.Collect<long>(service.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            FilterServiceMetrics.MeterName, "signalpipeline.filter.requests.rejected");
        using var client = service.CreateClient();

        using (var response = await PostBatchAsync(client, binaryRequest, accept))
        {
            // The header is quoted as the client sent it (until 2026-12-05 as parsed and written again: 'application/json; q=0').
            await AssertProblemAsync(response, HttpStatusCode.NotAcceptable,
                $"/audio/batch answers application/json or {BatchMediaType} (docs/filter-api.md), and the Accept header '{accept}' takes neither (a q=0 type is not acceptable).");
        }

        Assert.Equal(1, rejected.Sum(("limit", "media_type")));
        Assert.Equal(1, rejected.Sum());

        using var again = await PostBatchAsync(client, binaryRequest, accept: null);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    private static async Task<HttpResponseMessage> PostBatchAsync(HttpClient client, bool binary, string? accept)
    {
        using var content = binary
            ? new ByteArrayContent(BinaryBatchBody((Signal, null)))
            : new StringContent($$"""{"items":[{"signal":{{SignalJson(Signal)}}}]}""", Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue(binary ? BatchMediaType : "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/kalman/audio/batch") { Content = content };
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        return await client.SendAsync(request).WaitAsync(CallTimeout);
    }
}
