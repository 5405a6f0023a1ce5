using System.Net;
using FilterKafkaProcessor.Filtering;
using SignalPipeline.Filters;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// Remote mode against a stand-in for the binary <c>POST /{algorithm}/audio/batch</c> (docs/filter-api.md) that runs the
/// library: the request bytes, state passing and request splitting must give exactly the local filterer's output.
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
    public async Task EachStreamGoesToItsOwnAlgorithmWithItsOwnParametersAndEqualsLocal()
    {
        var handler = new BatchEndpoint { Algorithm = null };
        var remote = new RemoteChunkFilterer(new HttpClient(handler) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double> { ["q"] = 1e-4 });
        var local = new LocalChunkFilterer("kalman", new Dictionary<string, double> { ["q"] = 1e-4 });
        var rls = new global::FilterKafkaProcessor.Config.StreamFilterSetting(StreamFilterConfig.Create("rls", new Dictionary<string, double> { ["order"] = 5 }), 0, 1);
        StreamFilterHandle[] remoteStreams = [new(null), new(null, rls)], localStreams = [new(null), new(null, rls)];
        var signal = Enumerable.Range(0, 300).Select(i => Math.Sin(i * 0.1)).ToArray();
        for (var batch = 0; batch < 2; batch++)
        {
            List<FilterWork> remoteWork = [.. remoteStreams.Select(s => new FilterWork(s, signal, new double[signal.Length]))];
            List<FilterWork> localWork = [.. localStreams.Select(s => new FilterWork(s, signal, new double[signal.Length]))];
            await remote.FilterAsync(remoteWork, CancellationToken.None);
            await local.FilterAsync(localWork, CancellationToken.None);
            Assert.All(remoteWork.Zip(localWork), p => Assert.True(p.First.Output.Span.SequenceEqual(p.Second.Output.Span), "Remote output differs from local output."));
        }

        // The rls stream's first request carries its initial state (order 5), not the deployment's kalman query.
        Assert.Equal(["/kalman/audio/batch", "/rls/audio/batch", "/kalman/audio/batch", "/rls/audio/batch"], handler.Paths);
        Assert.Equal(5, ((IInspectableFilter)FilterFactory.Restore(remoteStreams[1].SaveState()!)).Inspect().Parameters["order"]);
        Assert.Equal(localStreams[1].SaveState(), remoteStreams[1].SaveState());
    }

    [Fact]
    public async Task StatesCountTowardsARequestsBytesSoManyLargeStatesAreSplitAcrossRequests()
    {
        var handler = new BatchEndpoint { Algorithm = "rls" };
        var remote = new RemoteChunkFilterer(new HttpClient(handler) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>());
        var local = new LocalChunkFilterer("kalman", new Dictionary<string, double>());
        var rls = new global::FilterKafkaProcessor.Config.StreamFilterSetting(StreamFilterConfig.Create("rls", new Dictionary<string, double> { ["order"] = 64 }), 0, 1);

        // 300 rls(64) streams of 10 samples each: 3,000 samples, but ~34 KB of state each, ~10 MB in all.
        var remoteStreams = Enumerable.Range(0, 300).Select(_ => new StreamFilterHandle(null, rls)).ToList();
        var localStreams = Enumerable.Range(0, 300).Select(_ => new StreamFilterHandle(null, rls)).ToList();
        var signal = Enumerable.Range(0, 10).Select(i => Math.Sin(i * 0.3)).ToArray();
        List<FilterWork> remoteWork = [.. remoteStreams.Select(s => new FilterWork(s, signal, new double[signal.Length]))];
        List<FilterWork> localWork = [.. localStreams.Select(s => new FilterWork(s, signal, new double[signal.Length]))];

        await remote.FilterAsync(remoteWork, CancellationToken.None);
        await local.FilterAsync(localWork, CancellationToken.None);

        Assert.All(remoteWork.Zip(localWork), p => Assert.True(p.First.Output.Span.SequenceEqual(p.Second.Output.Span), "Remote output differs from local output."));
        Assert.True(handler.Requests >= 2, $"~10 MB of states should take more than one request, saw {handler.Requests}.");
        Assert.All(handler.BodyLengths, length => Assert.InRange(length, 1, RemoteChunkFilterer.MaxRequestBytes));
        Assert.Equal(localStreams[299].SaveState(), remoteStreams[299].SaveState());
    }

    [Fact]
    public async Task ABatchOfMoreStreamsThanTheServicesTakeInOneRequestIsSplitAcrossRequests()
    {
        // Until 2026-12-04 every stream of a batch went in one request when samples and bytes allowed: a batch of more
        // than FilterService:MaxBatchItems (4096) streams was refused with 413, and each of its chunks sent on its own.
        var handler = new BatchEndpoint();
        var remote = new RemoteChunkFilterer(new HttpClient(handler) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>());
        var local = new LocalChunkFilterer("kalman", new Dictionary<string, double>());
        var streams = 2 * RemoteChunkFilterer.MaxItemsPerRequest + 1;
        var remoteStreams = Enumerable.Range(0, streams).Select(_ => new StreamFilterHandle(null)).ToList();
        var localStreams = Enumerable.Range(0, streams).Select(_ => new StreamFilterHandle(null)).ToList();
        var signal = Enumerable.Range(0, 4).Select(i => Math.Sin(i * 0.3)).ToArray();
        List<FilterWork> remoteWork = [.. remoteStreams.Select(s => new FilterWork(s, signal, new double[signal.Length]))];
        List<FilterWork> localWork = [.. localStreams.Select(s => new FilterWork(s, signal, new double[signal.Length]))];

        await remote.FilterAsync(remoteWork, CancellationToken.None);
        await local.FilterAsync(localWork, CancellationToken.None);

        Assert.Equal([RemoteChunkFilterer.MaxItemsPerRequest, RemoteChunkFilterer.MaxItemsPerRequest, 1], handler.ItemCounts);
        Assert.All(remoteWork.Zip(localWork), p => Assert.True(p.First.Output.Span.SequenceEqual(p.Second.Output.Span), "Remote output differs from local output."));
        Assert.Equal(localStreams[^1].SaveState(), remoteStreams[^1].SaveState());
    }

    [Fact]
    public async Task AServiceThatTakesFewerStreamsARequestGetsTheRequestInHalvesAndThatCountForTenMinutes()
    {
        // A service whose FilterService:MaxBatchItems is below the processor's 4096 refuses a larger request with 413.
        // Until 2026-12-04 every chunk of such a batch was then sent on its own (one request per chunk, every batch).
        var handler = new BatchEndpoint { MaxItems = 100 };
        var logs = new Microsoft.Extensions.Logging.Testing.FakeLogger<RemoteChunkFilterer>();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var remote = new RemoteChunkFilterer(new HttpClient(handler) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>(), logs, time);
        var local = new LocalChunkFilterer("kalman", new Dictionary<string, double>());
        var remoteStreams = Enumerable.Range(0, 250).Select(_ => new StreamFilterHandle(null)).ToList();
        var localStreams = Enumerable.Range(0, 250).Select(_ => new StreamFilterHandle(null)).ToList();
        var signal = Enumerable.Range(0, 12).Select(i => Math.Sin(i * 0.3)).ToArray();
        async Task RoundAsync(int round)
        {
            List<FilterWork> remoteWork = [.. remoteStreams.Select(s => new FilterWork(s, signal.AsMemory(round * 4, 4), new double[4]))];
            List<FilterWork> localWork = [.. localStreams.Select(s => new FilterWork(s, signal.AsMemory(round * 4, 4), new double[4]))];
            await remote.FilterAsync(remoteWork, CancellationToken.None);
            await local.FilterAsync(localWork, CancellationToken.None);
            Assert.All(remoteWork.Zip(localWork), p => Assert.True(p.First.Output.Span.SequenceEqual(p.Second.Output.Span), "Remote output differs from local output."));
        }

        await RoundAsync(0);
        time.Advance(RemoteChunkFilterer.LearnedLimitsHold - TimeSpan.FromSeconds(1));
        await RoundAsync(1);

        // 250 refused, then 125 refused and its halves taken: the next batch goes in parts of 63 at once.
        Assert.Equal([250, 125, 63, 62, 63, 62, 63, 63, 63, 61], handler.ItemCounts);
        Assert.Equal(63, remote.ItemsPerRequest);
        Assert.Equal(RemoteChunkFilterer.MaxSamplesPerRequest, remote.SamplesPerRequest);
        Assert.Equal(localStreams.Select(s => s.SaveState()), remoteStreams.Select(s => s.SaveState()));
        var warning = Assert.Single(logs.Collector.GetSnapshot());
        Assert.Contains("refused a request of 125 streams as too large", warning.Message);
        Assert.Contains("a request carries at most 63 streams for the next 10 minutes", warning.Message);
        Assert.Contains("FilterService:MaxBatchItems", warning.Message);

        // Ten minutes after, the full size is tried again: the service's limit was raised meanwhile.
        handler.MaxItems = 4096;
        time.Advance(TimeSpan.FromSeconds(1));
        await RoundAsync(2);
        Assert.Equal(250, handler.ItemCounts[^1]);
        Assert.Equal(11, handler.ItemCounts.Count);
        Assert.Equal(RemoteChunkFilterer.MaxItemsPerRequest, remote.ItemsPerRequest);
        Assert.Equal(localStreams.Select(s => s.SaveState()), remoteStreams.Select(s => s.SaveState()));
        Assert.Contains("Trying the full request size again", logs.LatestRecord.Message);

        // One stream refused with 413 still refuses its chunks (BatchFilter then sends each on its own).
        handler.MaxItems = 0;
        var refused = await Assert.ThrowsAsync<ChunkRefusedException>(() => remote.FilterAsync([new FilterWork(remoteStreams[0], signal, new double[8])], CancellationToken.None));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
    }

    [Fact]
    public async Task AServiceThatTakesFewerSamplesARequestGetsAStreamsSamplesInHalvesEachContinuingFromTheLastState()
    {
        // FilterService:MaxSamplesPerRequest set below the processor's 131072: one stream's samples are refused with 413.
        var handler = new BatchEndpoint { MaxSamples = 1000 };
        var remote = new RemoteChunkFilterer(new HttpClient(handler) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>());
        var local = new LocalChunkFilterer("kalman", new Dictionary<string, double>());
        var (remoteStream, localStream) = (new StreamFilterHandle(null), new StreamFilterHandle(null));
        var signal = Enumerable.Range(0, 4800).Select(i => Math.Sin(i * 0.01) + 0.1 * Math.Cos(i * 0.37)).ToArray();
        var (remoteOut, localOut) = (new double[4800], new double[4800]);
        for (var round = 0; round < 2; round++)
        {
            // Four chunks of 600 samples a round: a request's halves cut through chunks.
            var offsets = Enumerable.Range(round * 4, 4).Select(c => c * 600).ToList();
            await remote.FilterAsync([.. offsets.Select(o => new FilterWork(remoteStream, signal.AsMemory(o, 600), remoteOut.AsMemory(o, 600)))], CancellationToken.None);
            await local.FilterAsync([.. offsets.Select(o => new FilterWork(localStream, signal.AsMemory(o, 600), localOut.AsMemory(o, 600)))], CancellationToken.None);
        }

        // 2400 refused, its first half 1200 refused and its halves taken: 600 a request from then on.
        Assert.Equal([2400, 1200, 600, 600, 600, 600, 600, 600, 600, 600], handler.SampleCounts);
        Assert.Equal(600, remote.SamplesPerRequest);
        Assert.Equal(RemoteChunkFilterer.MaxItemsPerRequest, remote.ItemsPerRequest);
        Assert.Equal(localOut, remoteOut);
        Assert.Equal(localStream.SaveState(), remoteStream.SaveState());
    }

    [Theory]
    [InlineData("FilterService:MaxBatchItems", "3", 10, 4, 3, RemoteChunkFilterer.MaxSamplesPerRequest)] // 10, 5 refused; 3 and 2 taken
    [InlineData("FilterService:MaxSamplesPerRequest", "100", 1, 250, RemoteChunkFilterer.MaxItemsPerRequest, 63)] // 250, 125 refused; 63, 62 taken
    public async Task TheRealServiceSetBelowWhatTheProcessorSendsFiltersEveryStreamAsLocalModeDoes(string setting, string value, int streams, int samples, int itemsKept, int samplesKept)
    {
        // The same against the service itself (in process): its 413 for the setting, then requests it takes.
        await using var service = await global::SignalPipeline.Tests.FilterService.FilterServiceLimitsTests.StartServiceAsync((setting, value));
        var remote = new RemoteChunkFilterer(service.CreateClient(), "kalman", new Dictionary<string, double>());
        var local = new LocalChunkFilterer("kalman", new Dictionary<string, double>());
        var remoteStreams = Enumerable.Range(0, streams).Select(_ => new StreamFilterHandle(null)).ToList();
        var localStreams = Enumerable.Range(0, streams).Select(_ => new StreamFilterHandle(null)).ToList();
        var signal = Enumerable.Range(0, samples).Select(i => Math.Sin(i * 0.07)).ToArray();
        List<FilterWork> remoteWork = [.. remoteStreams.Select(s => new FilterWork(s, signal, new double[samples]))];
        List<FilterWork> localWork = [.. localStreams.Select(s => new FilterWork(s, signal, new double[samples]))];

        await remote.FilterAsync(remoteWork, CancellationToken.None);
        await local.FilterAsync(localWork, CancellationToken.None);

        Assert.All(remoteWork.Zip(localWork), p => Assert.True(p.First.Output.Span.SequenceEqual(p.Second.Output.Span), "Remote output differs from local output."));
        Assert.Equal(localStreams.Select(s => s.SaveState()), remoteStreams.Select(s => s.SaveState()));
        Assert.Equal((itemsKept, samplesKept), (remote.ItemsPerRequest, remote.SamplesPerRequest));
    }

    [Fact]
    public async Task OneStreamRefusedWith413DownToOneSampleRefusesItsChunksAndLowersNothing()
    {
        // A 413 that follows one stream's data however small the request is that stream's fault, not the size's: the
        // limits stay, and its chunks are refused (BatchFilter's isolation then sends each on its own).
        var handler = new BatchEndpoint { RefusedSample = 7 };
        var remote = new RemoteChunkFilterer(new HttpClient(handler) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>());
        var streams = Enumerable.Range(0, 8).Select(_ => new StreamFilterHandle(null)).ToList();
        List<FilterWork> work = [.. streams.Select((s, i) => new FilterWork(s, i == 5 ? new double[] { 1, 2, 3, 7 } : [1, 2, 3, 4], new double[4]))];

        var refused = await Assert.ThrowsAsync<ChunkRefusedException>(() => remote.FilterAsync(work, CancellationToken.None));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
        Assert.Equal(RemoteChunkFilterer.MaxItemsPerRequest, remote.ItemsPerRequest);
        Assert.Equal(RemoteChunkFilterer.MaxSamplesPerRequest, remote.SamplesPerRequest);
        // 8 refused; 0-3 taken; 4-7 and 4-5 refused; 4 taken; 5 refused, then its samples: 1-2 taken, 3-7 refused, 3 taken, 7 refused.
        Assert.Equal([8, 4, 4, 2, 1, 1, 1, 1, 1, 1], handler.ItemCounts);
        Assert.Equal([32, 16, 16, 8, 4, 4, 2, 2, 1, 1], handler.SampleCounts);
    }

    [Theory]
    [InlineData(HttpStatusCode.BadRequest, true)]
    [InlineData(HttpStatusCode.RequestEntityTooLarge, true)]
    [InlineData(HttpStatusCode.UnprocessableEntity, true)]
    // A wrong route, an auth proxy, a service of another version: no chunk's fault (before 2026-12-04 each dead-lettered
    // every chunk while /health stayed green).
    [InlineData(HttpStatusCode.NotFound, false)]
    [InlineData(HttpStatusCode.Unauthorized, false)]
    [InlineData(HttpStatusCode.Forbidden, false)]
    [InlineData(HttpStatusCode.MethodNotAllowed, false)]
    [InlineData(HttpStatusCode.UnsupportedMediaType, false)]
    [InlineData(HttpStatusCode.TooManyRequests, false)]
    [InlineData(HttpStatusCode.RequestTimeout, false)]
    [InlineData(HttpStatusCode.InternalServerError, false)]
    [InlineData(HttpStatusCode.ServiceUnavailable, false)]
    public async Task AnErrorAnswerFailsTheBatchAsARefusalOnlyFor400_413_And422(HttpStatusCode status, bool refusal)
    {
        var remote = new RemoteChunkFilterer(new HttpClient(new BatchEndpoint { Fail = status }) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>());
        var handle = new StreamFilterHandle(null);
        var error = await Assert.ThrowsAnyAsync<HttpRequestException>(() => remote.FilterAsync([new FilterWork(handle, new double[] { 1, 2 }, new double[2])], CancellationToken.None));
        Assert.Contains(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
        Assert.Equal(refusal, error is ChunkRefusedException);
        Assert.Equal(refusal, remote.IsChunkFault(error));
        Assert.True(handle.IsNew, "A failed call must not change the stream's state.");
    }

    [Fact]
    public async Task ParamsTravelInTheQueryAndStatelessItemsSendNoState()
    {
        var handler = new BatchEndpoint { Algorithm = "rls" };
        var parameters = new Dictionary<string, double> { ["order"] = 4, ["lambda"] = 0.995 };
        var remote = new RemoteChunkFilterer(new HttpClient(handler) { BaseAddress = new Uri("http://filter-gateway") }, "rls", parameters);
        var local = new LocalChunkFilterer("rls", parameters);
        var signal = Enumerable.Range(0, 500).Select(i => Math.Sin(i * 0.1)).ToArray();
        var (remoteStream, localStream) = (new StreamFilterHandle(null), new StreamFilterHandle(null));
        var (remoteOut, localOut) = (new double[500], new double[500]);

        await remote.FilterAsync([new FilterWork(remoteStream, signal.AsMemory(0, 200), remoteOut.AsMemory(0, 200))], CancellationToken.None);
        await remote.FilterAsync([new FilterWork(remoteStream, signal.AsMemory(200), remoteOut.AsMemory(200))], CancellationToken.None);
        await local.FilterAsync([new FilterWork(localStream, signal, localOut)], CancellationToken.None);

        Assert.Equal(localOut, remoteOut);
        Assert.Equal(localStream.SaveState(), remoteStream.SaveState());
        Assert.Equal([0, FilterFactory.Restore(remoteStream.SaveState()!, "rls").SaveState().Length], handler.StateLengths);
        Assert.All(handler.Queries, query => Assert.Equal("?order=4&lambda=0.995", query));
    }

    public static TheoryData<string, string> MalformedAnswers => new()
    {
        { "wrong content type", "content type 'application/json" },
        { "too few results", "it has 0 results for 1 items" },
        { "wrong sample count", "results[0] has 3 samples for 2" },
        { "no state", "results[0] has no state" },
        { "truncated", "results[0]: its 4 state bytes and 2 samples run past the end" },
        { "trailing bytes", "5 bytes follow the last result" },
        { "oversized", "the answer declares 1048680 bytes, more than 131100 (the 1 item(s)' samples and states)" },
    };

    [Theory]
    [MemberData(nameof(MalformedAnswers))]
    public async Task AMalformedAnswerFailsTheBatchNamingTheProblem(string answer, string message)
    {
        var remote = new RemoteChunkFilterer(new HttpClient(new BatchEndpoint { Malformed = answer }) { BaseAddress = new Uri("http://filter-gateway") }, "kalman", new Dictionary<string, double>());
        var handle = new StreamFilterHandle(null);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => remote.FilterAsync([new FilterWork(handle, new double[] { 1, 2 }, new double[2])], CancellationToken.None));
        Assert.Contains(message, error.Message);
        Assert.True(handle.IsNew, "A failed call must not change the stream's state.");
    }

    [Fact]
    public async Task AFailedAnswersProblemTextIsReadUpTo4KiBNotWhole()
    {
        // A service (or a proxy) answering 500 with a megabyte of text: the message, which goes into logs and the
        // health reason, takes its first 4 KiB and says it was cut.
        var remote = new RemoteChunkFilterer(new HttpClient(new FixedAnswer(HttpStatusCode.InternalServerError, new string('x', 1 << 20))) { BaseAddress = new Uri("http://filter-gateway") },
            "kalman", new Dictionary<string, double>());
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => remote.FilterAsync([new FilterWork(new StreamFilterHandle(null), new double[] { 1, 2 }, new double[2])], CancellationToken.None));
        Assert.EndsWith(new string('x', 100) + "... (cut at 4096 bytes)", error.Message, StringComparison.Ordinal);
        Assert.True(error.Message.Length < 4096 + 200, $"{error.Message.Length} characters");
    }

    private sealed class FixedAnswer(HttpStatusCode status, string body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body) });
    }

    /// <summary>
    /// A stand-in for the binary batch endpoint, decoding and encoding the format by hand from docs/filter-api.md and
    /// filtering with the library.
    /// </summary>
    private sealed class BatchEndpoint : HttpMessageHandler
    {
        public int Requests;
        public HttpStatusCode? Fail;
        public string? Malformed;
        public string? Algorithm = "kalman"; // null: any, taken from the path
        public readonly List<int> StateLengths = [];
        public readonly List<string> Paths = [];
        public readonly List<string> Queries = [];
        public readonly List<long> BodyLengths = [];
        public readonly List<int> ItemCounts = [];
        public int MaxItems = new global::FilterService.FilterServiceOptions().MaxBatchItems;
        public int MaxSamples = int.MaxValue;
        public double? RefusedSample; // a request carrying this sample is refused with 413 (one stream's fault)
        public readonly List<int> SampleCounts = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            Assert.Equal(HttpMethod.Post, request.Method);
            var algorithm = Algorithm ?? request.RequestUri!.AbsolutePath.Split('/')[1];
            Assert.Equal($"/{algorithm}/audio/batch", request.RequestUri!.AbsolutePath);
            Paths.Add(request.RequestUri.AbsolutePath);
            // The media type as docs/filter-api.md spells it, not the filterer's own constant.
            Assert.Equal("application/vnd.signalpipeline.filter-batch", request.Content!.Headers.ContentType?.MediaType);
            Assert.Contains(request.Headers.Accept, a => a.MediaType == "application/vnd.signalpipeline.filter-batch");
            Queries.Add(request.RequestUri.Query);
            if (Fail is { } status)
            {
                return new HttpResponseMessage(status) { Content = new StringContent($$"""{"status":{{(int)status}},"detail":"items[0].signal[1] is not a finite number"}""") };
            }

            var body = await request.Content.ReadAsByteArrayAsync(cancellationToken);
            BodyLengths.Add(body.Length);
            using var reader = new BinaryReader(new MemoryStream(body));
            using var answer = new MemoryStream();
            using var writer = new BinaryWriter(answer);
            var count = reader.ReadUInt32();
            ItemCounts.Add((int)count);
            if (count > MaxItems)
            {
                return new HttpResponseMessage(HttpStatusCode.RequestEntityTooLarge); // as the service does (FilterService:MaxBatchItems)
            }

            writer.Write(count);
            var samples = 0;
            var refused = false;
            for (var i = 0; i < count; i++)
            {
                var n = (int)reader.ReadUInt32();
                var state = reader.ReadBytes((int)reader.ReadUInt32());
                StateLengths.Add(state.Length);
                var signal = Enumerable.Range(0, n).Select(_ => reader.ReadDouble()).ToArray();
                samples += n;
                refused |= signal.Contains(RefusedSample ?? double.NaN);
                var filter = state.Length > 0 ? FilterFactory.Restore(state, algorithm) : FilterFactory.Create(algorithm, Params(request.RequestUri));
                var output = new double[n];
                filter.Process(signal, output);
                var after = filter.SaveState();
                writer.Write((uint)n);
                writer.Write((uint)after.Length);
                writer.Write(after);
                foreach (var value in output)
                {
                    writer.Write(value);
                }
            }

            Assert.Equal(body.Length, reader.BaseStream.Position);
            Assert.True(samples <= RemoteChunkFilterer.MaxSamplesPerRequest, $"A request carried {samples} samples.");
            SampleCounts.Add(samples);
            if (samples > MaxSamples || refused)
            {
                return new HttpResponseMessage(HttpStatusCode.RequestEntityTooLarge); // FilterService:MaxSamplesPerRequest
            }

            writer.Flush();
            var bytes = Malformed switch
            {
                "too few results" => [0, 0, 0, 0],
                "wrong sample count" => [.. answer.ToArray()[..4], 3, 0, 0, 0, .. answer.ToArray()[8..]],
                "no state" => [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, .. new byte[16]],
                "truncated" => [1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4, .. new byte[15]],
                "trailing bytes" => [.. answer.ToArray(), .. new byte[5]],
                "oversized" => [.. answer.ToArray(), .. new byte[1 << 20]],
                _ => answer.ToArray(),
            };
            var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new(Malformed == "wrong content type" ? "application/json" : RemoteChunkFilterer.BatchMediaType);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        }

        private static Dictionary<string, double> Params(Uri uri)
            => uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => p.Split('='))
                .ToDictionary(p => Uri.UnescapeDataString(p[0]), p => double.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
