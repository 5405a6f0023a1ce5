using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Confluent.Kafka;
using SignalPipeline.Filters;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The bridge in the running AppHost, fed by filtered chunks this test produces to <c>sample-output</c> under stream
/// ids of its own (so the app's own streams do not interfere).
/// </summary>
[Collection(AppHostCollection.Name)]
[Trait("Category", TestCategory.AppHost)]
public sealed class WebSocketBridgeAppHostTests(AppHostFixture shared, ITestOutputHelper output)
{
    private readonly AppHostFixture app = shared.WithTestOutput(output);
    private const string Bridge = "websocket-bridge";

    [Fact]
    public async Task Undecimated_frames_carry_every_sample_and_the_filtered_values_equal_the_library_reference()
    {
        const int chunks = 40;
        const int chunkSize = 250;
        var streamId = KafkaTestClients.NewRunId();
        await using var client = await BridgeTestClient.ConnectAsync(await BridgeUriAsync(), raw: true);
        await client.SubscribeAsync(streamId);

        // Half the chunks JSON, half binary: the bridge reads both forms of the contract.
        var (raw, _) = await ProduceAsync(streamId, "kalman", chunks, chunkSize, chunk => chunk % 2 == 0 ? SampleFormat.Json : SampleFormat.Float64);

        var frames = await ReceiveFramesAsync(client, streamId, chunks * chunkSize, BridgeTestClient.Timeout);

        // Seq ranges follow each other from 0 to the last chunk, with nothing left out.
        var expectedSeq = 0L;
        foreach (var frame in frames)
        {
            Assert.Equal(expectedSeq, frame.GetProperty("seq_first").GetInt64());
            expectedSeq = frame.GetProperty("seq_last").GetInt64() + 1;
            Assert.Equal("kalman", frame.GetProperty("algorithm").GetString());
        }

        Assert.Equal(chunks, expectedSeq);

        var receivedRaw = frames.SelectMany(f => f.GetProperty("raw").EnumerateArray().Select(e => e.GetDouble())).ToArray();
        var receivedFiltered = frames.SelectMany(f => f.GetProperty("filtered").EnumerateArray().Select(e => e.GetDouble())).ToArray();
        Assert.Equal(raw, receivedRaw);

        // The reference: one library filter over the raw signal the frames carried.
        var reference = new double[receivedRaw.Length];
        FilterFactory.Create("kalman").Process(receivedRaw, reference);
        Assert.Equal(reference, receivedFiltered);

        // And /streams knows the stream.
        using var http = app.CreateHttpClient(Bridge);
        var streams = await http.GetFromJsonAsync<JsonElement>("/streams").WaitAsync(BridgeTestClient.Timeout);
        var listed = streams.EnumerateArray().Single(s => s.GetProperty("stream_id").GetString() == streamId);
        Assert.Equal("kalman", listed.GetProperty("algorithm").GetString());
        Assert.Equal(chunks - 1, listed.GetProperty("last_seq").GetInt64());
        Assert.Equal(chunks * chunkSize, listed.GetProperty("samples").GetInt64());
    }

    [Fact]
    public async Task Chunks_produced_to_sample_input_reach_a_client_filtered_by_the_processor_as_the_library_would()
    {
        const int chunks = 20;
        const int chunkSize = 256;
        var streamId = KafkaTestClients.NewRunId();
        await app.WaitForHealthyAsync("filter-kafka-processor");
        await using var client = await BridgeTestClient.ConnectAsync(await BridgeUriAsync(), raw: true);
        await client.SubscribeAsync(streamId);

        var random = new Random(29);
        var raw = Enumerable.Range(0, chunks * chunkSize).Select(n => Math.Sin(n * 0.02) + 0.3 * (random.NextDouble() - 0.5)).ToArray();
        var factory = await KafkaTestClients.CreateFactoryAsync(app);
        using (var producer = factory.CreateProducer<byte[], byte[]>())
        {
            for (var c = 0; c < chunks; c++)
            {
                var chunk = new SampleChunk(streamId, c, raw.AsMemory(c * chunkSize, chunkSize).ToArray(), 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                await producer.ProduceAsync("sample-input", SampleCodec.ToMessage(chunk)).WaitAsync(BridgeTestClient.Timeout);
            }
        }

        var frames = await ReceiveFramesAsync(client, streamId, chunks * chunkSize, TimeSpan.FromMinutes(2));

        var algorithm = frames[0].GetProperty("algorithm").GetString()!;
        Assert.Equal(0, frames[0].GetProperty("seq_first").GetInt64());
        Assert.Equal(chunks - 1, frames[^1].GetProperty("seq_last").GetInt64());
        var receivedRaw = frames.SelectMany(f => f.GetProperty("raw").EnumerateArray().Select(e => e.GetDouble())).ToArray();
        var receivedFiltered = frames.SelectMany(f => f.GetProperty("filtered").EnumerateArray().Select(e => e.GetDouble())).ToArray();
        Assert.Equal(raw, receivedRaw);

        // The processor runs the AppHost's default algorithm with default parameters.
        var reference = new double[raw.Length];
        FilterFactory.Create(algorithm).Process(raw, reference);
        Assert.Equal(reference, receivedFiltered);
    }

    private static async Task<List<JsonElement>> ReceiveFramesAsync(BridgeTestClient client, string streamId, int samples, TimeSpan timeout)
    {
        var frames = new List<JsonElement>();
        var received = 0;
        var deadline = Stopwatch.StartNew();
        while (received < samples)
        {
            Assert.True(deadline.Elapsed < timeout, $"{received} of {samples} samples after {deadline.Elapsed}");
            using var message = await client.ReceiveAsync();
            Assert.NotNull(message);
            if (message.RootElement.GetProperty("type").GetString() != "data")
            {
                continue;
            }

            foreach (var frame in message.RootElement.GetProperty("frames").EnumerateArray())
            {
                Assert.Equal(streamId, frame.GetProperty("stream_id").GetString());
                Assert.False(frame.GetProperty("decimated").GetBoolean());
                frames.Add(frame.Clone());
                received += frame.GetProperty("raw").GetArrayLength();
            }
        }

        return frames;
    }

    [Fact]
    public async Task A_stalled_client_does_not_hold_up_another_client()
    {
        var streamId = KafkaTestClients.NewRunId();
        var bridge = await BridgeUriAsync();
        using var baselineHttp = app.CreateHttpClient(Bridge);
        var droppedBefore = await DroppedAsync(baselineHttp); // /clients sums the connected clients: other tests' too

        // Undecimated and subscribed to everything, then never reads again: its socket buffers fill, then its queue.
        await using var stalled = await BridgeTestClient.ConnectAsync(bridge, raw: true);
        await stalled.SendAsync("""{"type":"subscribe","streams":["*"]}""");

        await using var healthy = await BridgeTestClient.ConnectAsync(bridge);
        await healthy.SubscribeAsync(streamId);
        var newestSeq = -1L;
        using var stop = new CancellationTokenSource();
        var reading = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var message = await healthy.ReceiveAsync(stop.Token);
                if (message?.RootElement.GetProperty("type").GetString() == "data")
                {
                    foreach (var frame in message.RootElement.GetProperty("frames").EnumerateArray())
                    {
                        Interlocked.Exchange(ref newestSeq, frame.GetProperty("seq_last").GetInt64());
                    }
                }
            }
        });

        var producing = Task.Run(() => ProduceUntil(streamId, stop.Token));
        try
        {
            // Wait until the bridge itself reports the stalled client dropping frames: it is really stalled.
            using var http = app.CreateHttpClient(Bridge);
            var deadline = Stopwatch.StartNew();
            while (await DroppedAsync(http) <= droppedBefore)
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), "the stalled client never dropped a frame");
                Assert.False(producing.IsCompleted, "the producer stopped");
                Assert.False(reading.IsFaulted, reading.Exception?.ToString());
                await Task.Delay(250);
            }

            // While it stays stalled, the healthy client keeps getting new chunks.
            var seqAtStall = Interlocked.Read(ref newestSeq);
            deadline.Restart();
            while (Interlocked.Read(ref newestSeq) < seqAtStall + 20)
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(1), $"the healthy client is stuck at seq {Interlocked.Read(ref newestSeq)}");
                Assert.False(reading.IsFaulted, reading.Exception?.ToString());
                await Task.Delay(100);
            }
            // (The stalled client itself is disconnected once a send has waited Bridge:SendTimeoutSeconds: BridgeLimitsTests.)
        }
        finally
        {
            await stop.CancelAsync();
            stalled.Socket.Abort();
            await Task.WhenAll(producing, reading).ContinueWith(_ => { }).WaitAsync(BridgeTestClient.Timeout);
        }
    }

    [Theory]
    [InlineData("this is not json", WebSocketCloseStatus.InvalidPayloadData, "malformed JSON")]
    [InlineData("""{"type":"dance"}""", WebSocketCloseStatus.PolicyViolation, "unknown type")]
    [InlineData("""{"type":"subscribe","streams":"sensor-1"}""", WebSocketCloseStatus.PolicyViolation, "\"streams\"")]
    public async Task A_malformed_message_gets_a_close_frame_with_a_reason_and_nothing_else_is_affected(string text, WebSocketCloseStatus status, string reason)
    {
        var bridge = await BridgeUriAsync();
        await using var bystander = await BridgeTestClient.ConnectAsync(bridge);
        await using var offender = await BridgeTestClient.ConnectAsync(bridge);

        await offender.SendAsync(text);
        var (closeStatus, closeReason) = await offender.ReceiveCloseAsync();

        Assert.Equal(status, closeStatus);
        Assert.Contains(reason, closeReason);

        // The other connection still talks.
        await bystander.SubscribeAsync("sensor-1");
        Assert.Equal(WebSocketState.Open, bystander.Socket.State);
    }

    [Fact]
    public async Task A_foreign_origin_is_refused_and_plain_http_on_ws_gets_a_problem()
    {
        var bridge = await BridgeUriAsync();
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => BridgeTestClient.ConnectAsync(bridge, origin: "http://evil.example"));
        Assert.Contains("403", refused.Message);

        using var http = app.CreateHttpClient(Bridge);
        var response = await http.GetAsync("/ws").WaitAsync(BridgeTestClient.Timeout);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task The_page_is_served_with_its_chart_library()
    {
        await app.WaitForHealthyAsync(Bridge);
        using var http = app.CreateHttpClient(Bridge);

        var page = await http.GetStringAsync("/").WaitAsync(BridgeTestClient.Timeout);
        Assert.Contains("lib/uplot/uPlot.iife.min.js", page);
        var library = await http.GetAsync("/lib/uplot/uPlot.iife.min.js").WaitAsync(BridgeTestClient.Timeout);
        Assert.Equal(HttpStatusCode.OK, library.StatusCode);
    }

    private async Task<Uri> BridgeUriAsync()
    {
        await app.WaitForHealthyAsync(Bridge);
        return app.App.GetEndpoint(Bridge, "http");
    }

    /// <summary>Frames dropped for the connected clients in total (GET /clients gives counts only by default).</summary>
    private static async Task<long> DroppedAsync(HttpClient http)
    {
        var clients = await http.GetFromJsonAsync<JsonElement>("/clients").WaitAsync(BridgeTestClient.Timeout);
        return clients.GetProperty("dropped").GetInt64();
    }

    /// <summary>Produces a noisy sine as filtered chunks (the library's filter run over it, chunk by chunk).</summary>
    private async Task<(double[] Raw, double[] Filtered)> ProduceAsync(
        string streamId, string algorithm, int chunks, int chunkSize, Func<int, SampleFormat> format)
    {
        var factory = await KafkaTestClients.CreateFactoryAsync(app);
        using var producer = factory.CreateProducer<byte[], byte[]>();
        var filter = FilterFactory.Create(algorithm);
        var random = new Random(17);
        var raw = new double[chunks * chunkSize];
        var filtered = new double[raw.Length];
        for (var c = 0; c < chunks; c++)
        {
            var slice = raw.AsSpan(c * chunkSize, chunkSize);
            for (var i = 0; i < chunkSize; i++)
            {
                var n = c * chunkSize + i;
                slice[i] = Math.Sin(n * 0.05) + 0.2 * (random.NextDouble() - 0.5);
            }

            filter.Process(slice, filtered.AsSpan(c * chunkSize, chunkSize));
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var chunk = new FilteredChunk(streamId, c, algorithm, slice.ToArray(), filtered.AsSpan(c * chunkSize, chunkSize).ToArray(), now - 2, now)
            {
                Format = format(c),
            };
            await producer.ProduceAsync("sample-output", SampleCodec.ToMessage(chunk)).WaitAsync(BridgeTestClient.Timeout);
        }

        return (raw, filtered);
    }

    /// <summary>Binary chunks of 2000 samples, about 50 a second, until stopped: a few MB/s to an undecimated client.</summary>
    private async Task ProduceUntil(string streamId, CancellationToken stop)
    {
        var factory = await KafkaTestClients.CreateFactoryAsync(app);
        using var producer = factory.CreateProducer<byte[], byte[]>();
        var samples = Enumerable.Range(0, 2000).Select(i => Math.Sin(i * 0.01)).ToArray();
        for (var seq = 0L; !stop.IsCancellationRequested; seq++)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            producer.Produce("sample-output", SampleCodec.ToMessage(
                new FilteredChunk(streamId, seq, "kalman", samples, samples, now, now) { Format = SampleFormat.Float64 }));
            try
            {
                await Task.Delay(20, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        producer.Flush(TimeSpan.FromSeconds(10));
    }
}
