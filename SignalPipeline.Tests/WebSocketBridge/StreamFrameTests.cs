using System.Text.Json;
using Microsoft.Extensions.Options;
using SignalPipeline.Tests.FilterKafkaProcessor;
using SignalPipeline.Tests.Infrastructure;
using WebSocketBridge;
using WebSocketBridge.Streams;

namespace SignalPipeline.Tests.WebSocketBridge;

public sealed class StreamFrameTests
{
    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(100, 64)]
    [InlineData(128, 128)]
    [InlineData(1e12, 1 << 30)]
    public void Resolutions_are_powers_of_two_at_most_the_budget(double budget, int expected)
        => Assert.Equal(expected, StreamFrame.Resolution(budget));

    [Fact]
    public void A_chunk_that_would_pass_MaxPendingSamplesPerStream_pushes_out_what_is_pending_and_says_how_much()
    {
        var stream = new LiveStream("s", maxPendingSamples: 1024);
        var chunk = new double[600];

        Assert.Equal(0, stream.Append(0, "kalman", chunk, chunk, 1000, 1001, 1002));
        Assert.Equal(600, stream.Append(1, "kalman", chunk, chunk, 1000, 1001, 1002)); // 1,200 > 1,024: the first goes
        Assert.Equal(0, stream.Append(2, "kalman", chunk[..400], chunk[..400], 1000, 1001, 1002));

        var frame = stream.TakeFrame()!;
        Assert.Equal((1L, 2L, 1000), (frame.SeqFirst, frame.SeqLast, frame.Raw.Length));
        Assert.Equal(600, stream.Snapshot(1003).OverflowedSamples);
    }

    [Fact]
    public void A_chunk_finding_all_streams_at_MaxPendingSamples_is_not_shown_and_counted_until_a_frame_gives_room_back()
    {
        var budget = new PendingBudget(1000);
        var first = new LiveStream("a", maxPendingSamples: 1024, budget);
        var second = new LiveStream("b", maxPendingSamples: 1024, budget);
        var chunk = new double[600];

        Assert.Equal(0, first.Append(0, "kalman", chunk, chunk, 1000, 1001, 1002));
        Assert.Equal(600, second.Append(0, "kalman", chunk, chunk, 1000, 1001, 1002)); // 1,200 > 1,000 together
        Assert.Equal(600, budget.Held);
        Assert.Null(second.TakeFrame());
        Assert.Equal(600, second.Snapshot(1003).OverflowedSamples);

        // A frame of "a" gives its room back; "b" is shown again from its next chunk.
        Assert.Equal(600, first.TakeFrame()!.Raw.Length);
        Assert.Equal(0, budget.Held);
        Assert.Equal(0, second.Append(1, "kalman", chunk, chunk, 1000, 1001, 1002));
        var frame = second.TakeFrame()!;
        Assert.Equal((1L, 1L, 600), (frame.SeqFirst, frame.SeqLast, frame.Raw.Length));

        // A forgotten stream gives back what it held.
        Assert.Equal(0, first.Append(1, "kalman", chunk, chunk, 1000, 1001, 1002));
        first.Forget();
        Assert.Equal(0, budget.Held);
    }

    [Fact]
    public void A_chunk_not_shown_after_a_shown_one_does_not_move_the_frame_s_first_position()
    {
        var budget = new PendingBudget(1000);
        var stream = new LiveStream("s", maxPendingSamples: 1 << 20, budget);
        Assert.Equal(0, stream.Append(0, "kalman", new double[600], new double[600], 1000, 1001, 1002));
        Assert.Equal(600, stream.Append(1, "kalman", new double[600], new double[600], 1000, 1001, 1002)); // 1,200 > 1,000

        var frame = stream.TakeFrame()!;
        Assert.Equal((0L, 0L, 0L, 600), (frame.FirstPosition, frame.SeqFirst, frame.SeqLast, frame.Raw.Length));
    }

    [Fact]
    public void A_frame_carries_no_chunk_after_one_not_shown()
    {
        // 1,000 samples for all streams: "other" holds 400, so the stream's second chunk is not shown.
        var budget = new PendingBudget(1000);
        var other = new LiveStream("other", maxPendingSamples: 1 << 20, budget);
        var stream = new LiveStream("s", maxPendingSamples: 1 << 20, budget);
        other.Append(0, "kalman", new double[400], new double[400], 1000, 1001, 1002);
        Assert.Equal(0, stream.Append(0, "kalman", Enumerable.Repeat(1.0, 500).ToArray(), new double[500], 1000, 1001, 1002));
        Assert.Equal(200, stream.Append(1, "kalman", new double[200], new double[200], 1000, 1001, 1002));

        // Room comes back before the stream's frame is taken; the next chunk would fit, but would sit after a gap.
        Assert.NotNull(other.TakeFrame());
        Assert.Equal(200, stream.Append(2, "kalman", new double[200], new double[200], 1000, 1001, 1002));
        var first = stream.TakeFrame()!;
        Assert.Equal((0L, 0L, 0L, 500), (first.FirstPosition, first.SeqFirst, first.SeqLast, first.Raw.Length));
        Assert.All(first.Raw, v => Assert.Equal(1.0, v));

        // Positions still count what was not shown: the next frame starts after it.
        Assert.Equal(0, stream.Append(3, "kalman", new double[100], new double[100], 1000, 1001, 1002));
        var second = stream.TakeFrame()!;
        Assert.Equal((900L, 3L), (second.FirstPosition, second.SeqFirst));
        Assert.Equal((400L, 1000L), (stream.Snapshot(1003).OverflowedSamples, stream.Snapshot(1003).Samples));
        Assert.Equal(0, budget.Held);
    }

    [Fact]
    public void A_silent_stream_removed_from_the_registry_gives_its_pending_samples_back()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        var registry = new LiveStreamRegistry(Options.Create(new BridgeOptions { StreamTtlSeconds = 1 }), time);
        var chunk = new double[100];
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        registry.GetOrAdd("s")!.Append(0, "kalman", chunk, chunk, now, now, now);
        Assert.Equal(100, registry.Pending.Held);

        time.Advance(TimeSpan.FromSeconds(2));
        registry.RemoveSilent();

        Assert.Equal(0, registry.Count);
        Assert.Equal(0, registry.Pending.Held);
    }

    [Fact]
    public void A_chunk_for_a_stream_removed_as_silent_after_its_lookup_goes_to_the_stream_added_again_and_its_room_comes_back()
    {
        // The Kafka loop looks the stream up, then the frame pump removes it as silent, then the loop appends.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        var registry = new LiveStreamRegistry(Options.Create(new BridgeOptions { StreamTtlSeconds = 1 }), time);
        var chunk = new double[100];
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        registry.Append("s", 0, "kalman", chunk, chunk, now, now, now);
        Assert.Single(registry.TakeFrames());

        var lookedUp = registry.GetOrAdd("s");
        time.Advance(TimeSpan.FromSeconds(2));
        registry.RemoveSilent();
        now = time.GetUtcNow().ToUnixTimeMilliseconds();
        Assert.Equal(0, registry.Append(lookedUp, 1, "kalman", [1.0, 2, 3], [0.5, 1.5, 2.5], now, now, now));

        var frame = Assert.Single(registry.TakeFrames());
        Assert.Equal(("s", 1L, 1L), (frame.StreamId, frame.SeqFirst, frame.SeqLast));
        Assert.Equal([1.0, 2, 3], frame.Raw);
        Assert.Equal(1, registry.Count);
        Assert.Equal(0, registry.Pending.Held);
    }

    [Fact]
    public void A_stream_seen_silent_is_not_forgotten_when_a_chunk_came_since_and_a_forgotten_one_takes_no_chunk()
    {
        var budget = new PendingBudget(1000);
        var stream = new LiveStream("s", maxPendingSamples: 1 << 20, budget);
        stream.Append(0, "kalman", [1.0], [1.0], 1000, 1001, receivedMs: 5000);

        Assert.False(stream.ForgetIfSilentSince(5000));
        Assert.Equal([1.0], stream.TakeFrame()!.Raw);
        Assert.True(stream.ForgetIfSilentSince(5001));
        Assert.Null(stream.Append(1, "kalman", [2.0], [2.0], 1000, 1001, 6000));
        Assert.Null(stream.TakeFrame());
        Assert.Equal((0L, 1L), (budget.Held, stream.Snapshot(6000).Samples));
    }

    [Fact]
    public void The_room_streams_keep_between_frames_is_bounded_for_all_streams_together_and_given_back_when_they_go()
    {
        // Room for two streams' 64 Ki-sample buffers: a stream keeps the room its frame needed only while the budget grants it.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        using var meters = new TestMeterFactory();
        using var retainedGauge = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.samples.retained");
        var registry = new LiveStreamRegistry(Options.Create(new BridgeOptions
        {
            StreamTtlSeconds = 1, MaxChunkSamples = 60_000, MaxPendingSamplesPerStream = 1 << 16, MaxPendingSamples = 2 * ((1 << 16) - LiveStream.InitialCapacity),
        }), time, new BridgeMetrics(meters));
        retainedGauge.AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "{sample}");
        var chunk = new double[60_000];
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();

        // Five streams each take one large chunk once (a backlog), each in a frame of its own.
        var streams = Enumerable.Range(0, 5).Select(i => registry.GetOrAdd($"s{i}")!).ToList();
        foreach (var stream in streams)
        {
            stream.Append(0, "kalman", chunk, chunk, now, now, now);
            Assert.Equal(60_000, Assert.Single(registry.TakeFrames()).Raw.Length);
        }

        // Each kept 60,000 - 256 samples of room; the third would pass the budget.
        const int Room = 60_000 - LiveStream.InitialCapacity;
        Assert.Equal([Room, Room, 0, 0, 0], streams.Select(s => s.RetainedSamples));
        Assert.Equal(2 * Room, registry.Retained.Held);
        Assert.Equal(2 * Room, DocumentedMetric.Sum(retainedGauge));

        // A stream that kept nothing still takes a large chunk (its room then comes and goes with the frame).
        streams[4].Append(1, "kalman", chunk, chunk, now, now, now);
        Assert.Equal(60_000, Assert.Single(registry.TakeFrames()).Raw.Length);
        Assert.Equal(0, streams[4].RetainedSamples);

        // Streams that go silent give their room back, and others can keep theirs again.
        time.Advance(TimeSpan.FromSeconds(2));
        registry.RemoveSilent();
        Assert.Equal(0, registry.Retained.Held);
    }

    [Fact]
    public void The_pending_gauge_counts_the_samples_all_streams_hold_for_the_next_frame()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        using var meters = new TestMeterFactory();
        using var pending = DocumentedMetric.Collect<long>(meters, BridgeMetrics.MeterName, "signalpipeline.bridge.samples.pending");
        var registry = new LiveStreamRegistry(Options.Create(new BridgeOptions()), time, new BridgeMetrics(meters));
        pending.AssertDocumented(typeof(System.Diagnostics.Metrics.ObservableGauge<>), "{sample}");
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();

        registry.GetOrAdd("a")!.Append(0, "kalman", new double[600], new double[600], now, now, now);
        registry.GetOrAdd("b")!.Append(0, "kalman", new double[400], new double[400], now, now, now);
        Assert.Equal(1000, pending.Observe());

        Assert.Equal(2, registry.TakeFrames().Length);
        Assert.Equal(0, pending.Observe());
    }

    [Fact]
    public void GET_streams_is_written_at_most_once_per_500_ms_whoever_asks()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        var registry = new LiveStreamRegistry(Options.Create(new BridgeOptions()), time);
        var json = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        registry.GetOrAdd("a")!.Append(0, "kalman", [1.0], [1.0], now, now, now);

        var first = registry.SummariesJson(json);
        registry.GetOrAdd("b")!.Append(0, "kalman", [1.0], [1.0], now, now, now);
        time.Advance(TimeSpan.FromMilliseconds(LiveStreamRegistry.SummariesCacheMilliseconds - 1));
        Assert.Same(first, registry.SummariesJson(json));

        time.Advance(TimeSpan.FromMilliseconds(1));
        using var second = JsonDocument.Parse(registry.SummariesJson(json));
        Assert.Equal(["a", "b"], second.RootElement.EnumerateArray().Select(s => s.GetProperty("stream_id").GetString()));
    }

    [Fact]
    public void A_frame_joins_the_chunks_since_the_last_frame_and_positions_continue()
    {
        var stream = new LiveStream("s", maxPendingSamples: 1 << 20);
        stream.Append(4, "kalman", [1, 2], [0.5, 1.5], timestampMs: 1000, processedMs: 1003, receivedMs: 1010);
        stream.Append(5, "kalman", [3], [2.5], timestampMs: 1001, processedMs: 1004, receivedMs: 1012);

        var first = stream.TakeFrame()!;
        Assert.Null(stream.TakeFrame());
        stream.Append(6, "kalman", [4, 5], [3.5, 4.5], timestampMs: 1002, processedMs: 1005, receivedMs: 1014);
        var second = stream.TakeFrame()!;

        Assert.Equal((4L, 5L, 2), (first.SeqFirst, first.SeqLast, first.Chunks));
        Assert.Equal([1.0, 2, 3], first.Raw);
        Assert.Equal([0.5, 1.5, 2.5], first.Filtered);
        Assert.Equal([3L, 3], first.PipelineMs);
        Assert.Equal([10L, 11], first.EndToEndMs);
        Assert.Equal(0, first.FirstPosition);
        Assert.Equal(3, second.FirstPosition);
        Assert.Equal((6L, 6L), (second.SeqFirst, second.SeqLast));
    }

    [Fact]
    public void A_frame_of_more_chunks_than_MaxLatenciesPerFrame_carries_the_newest_chunks_latencies_and_counts_every_chunk()
    {
        const int kept = 64; // docs/websocket-bridge.md, "Server -> client": the newest 64 chunks' latencies
        var stream = new LiveStream("s", maxPendingSamples: 1 << 20);
        var chunks = kept * 3 + 5;
        for (var seq = 0; seq < chunks; seq++)
        {
            // Latencies that name their chunk: pipeline seq ms, end to end 2 * seq ms.
            stream.Append(seq, "kalman", [seq], [seq], timestampMs: 1000, processedMs: 1000 + seq, receivedMs: 1000 + 2 * seq);
        }

        var frame = stream.TakeFrame()!;
        var newest = Enumerable.Range(chunks - kept, kept).ToArray();
        Assert.Equal(newest.Select(seq => (long)seq), frame.PipelineMs);
        Assert.Equal(newest.Select(seq => 2L * seq), frame.EndToEndMs);

        using var json = JsonDocument.Parse(frame.GetPayload(StreamFrame.Undecimated));
        var root = json.RootElement;
        Assert.Equal(chunks, root.GetProperty("chunks").GetInt32());
        Assert.Equal(chunks, root.GetProperty("samples").GetInt32());
        Assert.Equal(newest.Select(seq => (long)seq), root.GetProperty("pipeline_ms").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(newest.Select(seq => 2L * seq), root.GetProperty("e2e_ms").EnumerateArray().Select(e => e.GetInt64()));

        // The next frame starts its lists afresh.
        stream.Append(chunks, "kalman", [1.0], [1.0], timestampMs: 1000, processedMs: 1007, receivedMs: 1009);
        var next = stream.TakeFrame()!;
        Assert.Equal([7L], next.PipelineMs);
        Assert.Equal([9L], next.EndToEndMs);
    }

    [Fact]
    public void Undecimated_payloads_carry_every_value_exactly()
    {
        var raw = Enumerable.Range(0, 1000).Select(i => Math.Sin(i * 0.37) / 3).ToArray();
        var filtered = raw.Select(v => v * Math.PI).ToArray();
        var frame = Frame(raw, filtered);

        using var json = JsonDocument.Parse(frame.GetPayload(StreamFrame.Undecimated));
        var root = json.RootElement;

        Assert.False(root.GetProperty("decimated").GetBoolean());
        Assert.Equal(raw, root.GetProperty("raw").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(filtered, root.GetProperty("filtered").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal("s-1", root.GetProperty("stream_id").GetString());
        Assert.Equal(7, root.GetProperty("seq_first").GetInt64());
    }

    [Fact]
    public void Undecimated_payloads_carry_doubles_whose_BCL_text_parses_to_a_neighbour_exactly()
    {
        // Utf8JsonWriter writes 2^-958 as 4.104536801298376E-289, which parses to the next double; the codec's text does not.
        double[] raw = [Math.ScaleB(1, -958), -0.0, double.Epsilon, double.MaxValue, 0.1 + 0.2, 1e17];
        var frame = Frame(raw, [.. raw.Select(v => -v)]);

        using var json = JsonDocument.Parse(frame.GetPayload(StreamFrame.Undecimated));
        var root = json.RootElement;

        Assert.Equal(raw.Select(BitConverter.DoubleToInt64Bits), root.GetProperty("raw").EnumerateArray().Select(e => BitConverter.DoubleToInt64Bits(e.GetDouble())));
        Assert.Equal(raw.Select(v => BitConverter.DoubleToInt64Bits(-v)), root.GetProperty("filtered").EnumerateArray().Select(e => BitConverter.DoubleToInt64Bits(e.GetDouble())));
    }

    [Fact]
    public void Decimated_payloads_are_bounded_aligned_and_cached()
    {
        var raw = Enumerable.Range(0, 5000).Select(i => Math.Sin(i * 0.01)).ToArray();
        var frame = Frame(raw, [.. raw.Select(v => v / 2)]);

        var payload = frame.GetPayload(64);
        using var json = JsonDocument.Parse(payload);
        var root = json.RootElement;

        Assert.True(root.GetProperty("decimated").GetBoolean());
        Assert.Equal(64, root.GetProperty("x").GetArrayLength());
        Assert.Equal(64, root.GetProperty("raw").GetArrayLength());
        Assert.Equal(64, root.GetProperty("filtered").GetArrayLength());
        Assert.Equal(5000, root.GetProperty("samples").GetInt32());
        Assert.Same(payload, frame.GetPayload(64));
        Assert.Throws<ArgumentOutOfRangeException>(() => frame.GetPayload(100));
    }

    [Fact]
    public void Streams_list_reports_rate_algorithm_and_last_seq()
    {
        var time = new ManualClock(DateTimeOffset.FromUnixTimeMilliseconds(1_000_000));
        var registry = new LiveStreamRegistry(Options.Create(new BridgeOptions()), time);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 0; i <= 20; i++)
        {
            // 20 chunks of 500 samples over 2 s: 5000 samples/s.
            registry.GetOrAdd("sensor-9")!.Append(i, "rls", new double[500], new double[500], now + i * 100, now + i * 100, now + i * 100);
        }

        time.Advance(TimeSpan.FromSeconds(2));
        var summary = Assert.Single(registry.Summaries());

        Assert.Equal("sensor-9", summary.StreamId);
        Assert.Equal("rls", summary.Algorithm);
        Assert.Equal(20, summary.LastSeq);
        Assert.Equal(5000, summary.Rate, tolerance: 1);

        time.Advance(TimeSpan.FromSeconds(new BridgeOptions().StreamTtlSeconds + 1));
        registry.RemoveSilent();
        Assert.Empty(registry.Summaries());
    }

    private static StreamFrame Frame(double[] raw, double[] filtered)
        => new("s-1", "kalman", 7, 9, 3, 0, raw, filtered, [1], [2], 1, 2, 3, 100);

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public void Advance(TimeSpan by) => now += by;
    }
}
