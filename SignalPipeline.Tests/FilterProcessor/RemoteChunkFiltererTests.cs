using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FilterProcessor.Filtering;
using SignalPipeline.Filters;

namespace SignalPipeline.Tests.FilterProcessor;

/// <summary>
/// Remote mode against a stand-in for <c>POST /{algorithm}/audio/batch</c> (docs/filter-api.md) that runs the library:
/// the request shape, state passing and request splitting must give exactly the local filterer's output.
/// </summary>
public sealed class RemoteChunkFiltererTests
{
    [Fact]
    public async Task RemoteEqualsLocalAcrossBatchesAndSplitRequests()
    {
        var handler = new BatchEndpoint();
        var remote = new RemoteChunkFilterer(new HttpClient(handler) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>());
        var local = new LocalChunkFilterer("kalman", new Dictionary<string, double>());

        var random = new Random(7);
        var remoteStreams = new[] { new StreamFilterHandle(null), new StreamFilterHandle(null), new StreamFilterHandle(null) };
        var localStreams = new[] { new StreamFilterHandle(null), new StreamFilterHandle(null), new StreamFilterHandle(null) };

        // Three batches; the second carries more samples than one request may, so it is cut mid-chunk.
        foreach (var sizes in new[] { new[] { 100, 50, 300 }, new[] { 90_000, 70_000, 1_000, 60_000 }, new[] { 7, 13 } })
        {
            var remoteWork = new List<FilterWork>();
            var localWork = new List<FilterWork>();
            for (var i = 0; i < sizes.Length; i++)
            {
                var signal = Enumerable.Range(0, sizes[i]).Select(_ => random.NextDouble() - 0.5).ToArray();
                var stream = i % 3;
                remoteWork.Add(new FilterWork(remoteStreams[stream], signal, new double[signal.Length]));
                localWork.Add(new FilterWork(localStreams[stream], signal, new double[signal.Length]));
            }

            await remote.FilterAsync(remoteWork, CancellationToken.None);
            await local.FilterAsync(localWork, CancellationToken.None);
            foreach (var (r, l) in remoteWork.Zip(localWork))
            {
                Assert.True(r.Output.Span.SequenceEqual(l.Output.Span), "Remote output differs from local output.");
            }
        }

        Assert.True(handler.Requests >= 4, $"The big batch should have been split, saw {handler.Requests} requests.");
        for (var s = 0; s < 3; s++)
        {
            Assert.Equal(localStreams[s].SaveState(), remoteStreams[s].SaveState());
        }
    }

    [Fact]
    public async Task AnErrorAnswerFailsTheBatch()
    {
        var remote = new RemoteChunkFilterer(new HttpClient(new BatchEndpoint { Fail = true }) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>());
        var handle = new StreamFilterHandle(null);
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => remote.FilterAsync([new FilterWork(handle, new double[] { 1, 2 }, new double[2])], CancellationToken.None));
        Assert.Contains("400", error.Message);
        Assert.True(handle.IsNew, "A failed call must not change the stream's state.");
    }

    private sealed class BatchEndpoint : HttpMessageHandler
    {
        public int Requests;
        public bool Fail;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            Assert.Equal(HttpMethod.Post, request.Method);
            Assert.Equal("/kalman/audio/batch", request.RequestUri!.AbsolutePath);
            if (Fail)
            {
                return new HttpResponseMessage(HttpStatusCode.BadRequest) { Content = new StringContent("""{"status":400,"detail":"items[0].signal[1] is not a number"}""") };
            }

            using var body = JsonDocument.Parse(await request.Content!.ReadAsStringAsync(cancellationToken));
            var samples = 0;
            var results = new List<object>();
            foreach (var item in body.RootElement.GetProperty("items").EnumerateArray())
            {
                var signal = item.GetProperty("signal").EnumerateArray().Select(e => e.GetDouble()).ToArray();
                samples += signal.Length;
                var filter = item.TryGetProperty("state", out var state)
                    ? FilterFactory.Restore(Convert.FromBase64String(state.GetString()!), "kalman")
                    : FilterFactory.Create("kalman");
                var output = new double[signal.Length];
                filter.Process(signal, output);
                results.Add(new { filtered_signal = output, state = Convert.ToBase64String(filter.SaveState()) });
            }

            Assert.True(samples <= RemoteChunkFilterer.MaxSamplesPerRequest, $"A request carried {samples} samples.");
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = JsonContent.Create(new { algorithm = "kalman", results }) };
        }
    }
}
