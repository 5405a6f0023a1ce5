using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using SignalGenerator;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.SignalGenerator;

/// <summary>The AppHost with the generator switched to binary float32, 3 streams of 128 samples: proves the AppHost
/// passes its Generator:* settings through. Its own app (not the shared "AppHost" collection): tests run serially.</summary>
public sealed class BinaryGeneratorAppFixture : AppHostFixture
{
    public const int Streams = 3;
    public const int ChunkSize = 128;

    protected override string[] AppHostArgs =>
        ["Generator:Format=Float32", $"Generator:Streams={Streams}", $"Generator:ChunkSize={ChunkSize}", "Generator:Seed=5"];
}

[Trait("Category", TestCategory.AppHost)]
public sealed class SignalGeneratorAppHostTests(BinaryGeneratorAppFixture shared, ITestOutputHelper output) : IClassFixture<BinaryGeneratorAppFixture>
{
    private readonly BinaryGeneratorAppFixture app = shared.WithTestOutput(output);
    private static readonly Regex TraceParent = new("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$");

    [Fact]
    public async Task Chunks_arrive_on_sample_input_in_seq_order_per_stream_and_are_the_seeded_signals()
    {
        const int chunksPerStream = 6;
        await app.WaitForHealthyAsync("signal-generator");
        var bootstrap = await app.GetConnectionStringAsync("kafka");

        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = $"generator-test-{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            SessionTimeoutMs = 6000,
            FetchWaitMaxMs = 20,
        }).Build();
        consumer.Subscribe("sample-input");

        var received = new Dictionary<string, List<SampleChunk>>();
        var deadline = Stopwatch.StartNew();
        while (received.Count < BinaryGeneratorAppFixture.Streams || received.Values.Any(chunks => chunks.Count < chunksPerStream))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(120),
                $"only {string.Join(", ", received.Select(s => $"{s.Key}: {s.Value.Count}"))} chunks after {deadline.Elapsed}");
            var record = consumer.Consume(TimeSpan.FromSeconds(1));
            if (record is null)
            {
                continue;
            }

            var message = record.Message;
            Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out var chunk, out var error), error.ToString());
            Assert.Equal(SampleFormat.Float32, chunk.Format);
            Assert.Equal(BinaryGeneratorAppFixture.ChunkSize, chunk.Signal.Length);
            Assert.Equal(2000, chunk.SampleRate);
            Assert.InRange(chunk.TimestampMs!.Value, DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);
            Assert.True(message.Headers.TryGetLastBytes("traceparent", out var traceParent), "no traceparent header");
            Assert.Matches(TraceParent, Encoding.ASCII.GetString(traceParent));

            if (!received.TryGetValue(chunk.StreamId, out var chunks))
            {
                received[chunk.StreamId] = chunks = [];
            }

            chunks.Add(chunk);
        }

        Assert.Equal(["sensor-1", "sensor-2", "sensor-3"], received.Keys.Order());
        var options = new GeneratorOptions { Seed = 5 };
        foreach (var (streamId, chunks) in received)
        {
            // Each stream lives on one partition, so it arrives in order, from seq 0, without gaps.
            Assert.Equal(Enumerable.Range(0, chunks.Count).Select(i => (long)i), chunks.Select(c => c.Seq));

            // And it is exactly the seeded signal, as float32.
            var index = int.Parse(streamId["sensor-".Length..]) - 1;
            var source = new SignalSource(options.ShapeOf(index), GeneratorOptions.StreamSeed(5, index), 2000, options.Noise);
            var expected = new double[BinaryGeneratorAppFixture.ChunkSize];
            foreach (var chunk in chunks)
            {
                source.Fill(expected);
                Assert.Equal(expected.Select(x => (double)(float)x), chunk.Signal.ToArray());
            }
        }
    }
}
