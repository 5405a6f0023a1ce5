using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.Filters;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// Produces test streams to sample-input and reads sample-output / sample-dlq with read_committed consumers, through
/// the app's broker and the project's one Kafka client setup.
/// </summary>
internal sealed class ProcessorTestKit : IDisposable
{
    public const string InputTopic = "sample-input";
    public const string OutputTopic = "sample-output";
    public const string DlqTopic = "sample-dlq";

    private ProcessorTestKit(string bootstrapServers)
    {
        BootstrapServers = bootstrapServers;
        Kafka = new KafkaClientFactory(new ConfigurationBuilder().Build(), NullLoggerFactory.Instance, new KafkaSettings(bootstrapServers));
        Producer = Kafka.CreateProducer<byte[], byte[]>(config =>
        {
            config.EnableIdempotence = true;
            config.LingerMs = 1;
        });
    }

    public string BootstrapServers { get; }

    public KafkaClientFactory Kafka { get; }

    public IProducer<byte[], byte[]> Producer { get; }

    public static async Task<ProcessorTestKit> CreateAsync(AppHostFixture fixture)
    {
        await fixture.WaitForHealthyAsync("kafka");
        return new ProcessorTestKit(await fixture.GetConnectionStringAsync("kafka"));
    }

    /// <summary>Against any broker, e.g. an in-process <c>MockKafkaCluster</c> (the kit's own tests).</summary>
    public static ProcessorTestKit ForBroker(string bootstrapServers) => new(bootstrapServers);

    /// <summary>A test-unique stream id (the app and its topics are shared by the tests of a class).</summary>
    public static string StreamId(string name) => $"{name}-{Guid.NewGuid():N}"[..Math.Min(name.Length + 13, 64)];

    /// <summary>A reproducible noisy sine for one chunk.</summary>
    public static double[] Signal(string streamId, long seq, int samples)
    {
        var random = new Random(StableHash(streamId) ^ (int)seq);
        var signal = new double[samples];
        for (var i = 0; i < samples; i++)
        {
            var t = seq * samples + i;
            signal[i] = Math.Sin(t * 0.05) + 0.3 * (random.NextDouble() - 0.5);
        }

        return signal;
    }

    public static SampleChunk Chunk(string streamId, long seq, int samples, SampleFormat format)
    {
        var signal = Signal(streamId, seq, samples);
        if (format == SampleFormat.Float32)
        {
            // What a float32 record can carry: the reference must start from the same values.
            for (var i = 0; i < signal.Length; i++)
            {
                signal[i] = (float)signal[i];
            }
        }

        return new SampleChunk(streamId, seq, signal, 8000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) { Format = format };
    }

    public void Produce(SampleChunk chunk) => Producer.Produce(InputTopic, SampleCodec.ToMessage(chunk));

    public void ProduceRaw(string key, byte[] value, Headers? headers = null)
        => Producer.Produce(InputTopic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(key), Value = value, Headers = headers ?? [] });

    /// <summary>To one partition, whatever the key hashes to (to put streams side by side).</summary>
    public void ProduceTo(int partition, SampleChunk chunk)
        => Producer.Produce(new TopicPartition(InputTopic, partition), SampleCodec.ToMessage(chunk));

    public void ProduceRawTo(int partition, string key, byte[] value)
        => Producer.Produce(new TopicPartition(InputTopic, partition), new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(key), Value = value });

    public void Flush() => Producer.Flush(TimeSpan.FromSeconds(30));

    /// <summary>The current end of every partition of <paramref name="topic"/>: read from here to see only this test's records.</summary>
    public List<TopicPartitionOffset> EndOffsets(string topic)
    {
        using var admin = new DependentAdminClientBuilder(Producer.Handle).Build();
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(30)).Topics.Single().Partitions.Count;
        using var consumer = CreateReader();
        return [.. Enumerable.Range(0, partitions).Select(p =>
            new TopicPartitionOffset(topic, p, consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(30)).High))];
    }

    public IConsumer<byte[], byte[]> CreateReader() => Kafka.CreateConsumer<byte[], byte[]>($"test-reader-{Guid.NewGuid():N}", config =>
    {
        config.IsolationLevel = IsolationLevel.ReadCommitted;
        config.EnableAutoCommit = false;
        config.AutoOffsetReset = AutoOffsetReset.Earliest;
        config.FetchWaitMaxMs = 10;
    });

    /// <summary>
    /// The partitions of <paramref name="from"/> whose log now starts after the offset given there, each named with both
    /// offsets: the broker dropped records written since (the dev broker keeps the newest ~5 MiB of a partition).
    /// </summary>
    public static List<string> LogStartsPast(IConsumer<byte[], byte[]> consumer, IEnumerable<TopicPartitionOffset> from)
        => [.. from.Select(start => (start, low: consumer.QueryWatermarkOffsets(start.TopicPartition, TimeSpan.FromSeconds(30)).Low.Value))
            .Where(s => s.low > s.start.Offset.Value)
            .Select(s => $"{s.start.TopicPartition}: the broker's log now starts at offset {s.low}, after the offset {s.start.Offset.Value} the test began at")];

    /// <summary>
    /// Reads records from <paramref name="from"/> until <paramref name="done"/> holds, then for <paramref name="settle"/>
    /// more (so a duplicate written late is seen too).
    /// </summary>
    public async Task<List<ConsumeResult<byte[], byte[]>>> ReadAsync(
        List<TopicPartitionOffset> from, Func<List<ConsumeResult<byte[], byte[]>>, bool> done, TimeSpan timeout, TimeSpan settle)
    {
        return await Task.Run(() =>
        {
            using var consumer = CreateReader();
            consumer.Assign(from);
            var records = new List<ConsumeResult<byte[], byte[]>>();
            var deadline = DateTime.UtcNow + timeout;
            DateTime? settleUntil = null;
            while (DateTime.UtcNow < (settleUntil ?? deadline))
            {
                var record = consumer.Consume(100);
                if (record is null || record.IsPartitionEOF)
                {
                    continue;
                }

                records.Add(record);
                if (settleUntil is null && done(records))
                {
                    settleUntil = DateTime.UtcNow + settle;
                }
            }

            // A reader placed before the log start skips to it (auto.offset.reset): records the dev broker dropped (it
            // keeps the newest ~5 MiB of a partition) would look like the processor's loss.
            var dropped = LogStartsPast(consumer, from);
            Assert.True(dropped.Count == 0, $"{string.Join("; ", dropped)}: the broker dropped records before they were read (the dev broker keeps the newest ~5 MiB of a partition); the test writes too much to one partition");
            consumer.Close();
            return records;
        }).WaitAsync(timeout + settle + TimeSpan.FromSeconds(30));
    }

    /// <summary>Output chunks of the given streams, in the order read.</summary>
    public static Dictionary<string, List<FilteredChunk>> Outputs(IEnumerable<ConsumeResult<byte[], byte[]>> records, IReadOnlyCollection<string> streams)
    {
        var outputs = streams.ToDictionary(s => s, _ => new List<FilteredChunk>());
        foreach (var record in records)
        {
            Assert.True(
                SampleCodec.TryDecodeFilteredChunk(record.Message.Key, record.Message.Value, record.Message.Headers, out var chunk, out var error, limits: new DecodeLimits { MaxSamples = 1 << 20 }),
                $"An output record does not decode: {error}");
            if (outputs.TryGetValue(chunk.StreamId, out var list))
            {
                list.Add(chunk);
            }
        }

        return outputs;
    }

    /// <summary>
    /// A completion check for <see cref="ReadAsync"/>: true once every stream has an output for each of its expected
    /// seqs. Incremental (each record is decoded once), so long reads stay linear.
    /// </summary>
    public static Func<List<ConsumeResult<byte[], byte[]>>, bool> Complete(IReadOnlyDictionary<string, int> expectedChunks)
    {
        var seen = expectedChunks.Keys.ToDictionary(s => s, _ => new HashSet<long>());
        var read = 0;
        var missing = expectedChunks.Values.Sum();
        return records =>
        {
            for (; read < records.Count; read++)
            {
                var record = records[read];
                var key = Encoding.UTF8.GetString(record.Message.Key);
                if (seen.TryGetValue(key, out var seqs)
                    && SampleCodec.TryDecodeFilteredChunk(record.Message.Key, record.Message.Value, record.Message.Headers, out var chunk, out _, limits: new DecodeLimits { MaxSamples = 1 << 20 })
                    && chunk.Seq < expectedChunks[key]
                    && seqs.Add(chunk.Seq))
                {
                    missing--;
                }
            }

            return missing == 0;
        };
    }

    /// <summary>
    /// Asserts the stream's output has each of <paramref name="sent"/>'s seqs exactly once, in order, and that the filtered
    /// samples equal one library filter run over the chunks in seq order, bit for bit.
    /// </summary>
    public static void AssertEqualsReference(string algorithm, IReadOnlyList<SampleChunk> sent, IReadOnlyList<FilteredChunk> output)
    {
        var streamId = sent[0].StreamId;
        Assert.Equal(sent.Select(c => c.Seq), output.Select(c => c.Seq));
        var filter = FilterFactory.Create(algorithm);
        foreach (var (input, actual) in sent.OrderBy(c => c.Seq).Zip(output))
        {
            var expected = new double[input.Signal.Length];
            filter.Process(input.Signal.Span, expected);
            Assert.Equal(algorithm, actual.Algorithm);
            Assert.Equal(input.Format, actual.Format);
            Assert.Equal(input.TimestampMs, actual.TimestampMs);
            Assert.True(actual.ProcessedMs >= actual.TimestampMs, $"{streamId} seq {input.Seq}: processed_ms {actual.ProcessedMs} is before timestamp_ms {actual.TimestampMs}");
            Assert.Equal(input.Signal.ToArray(), actual.Signal.ToArray());
            for (var i = 0; i < expected.Length; i++)
            {
                var want = input.Format == SampleFormat.Float32 ? (float)expected[i] : expected[i];
                if (BitConverter.DoubleToInt64Bits(want) != BitConverter.DoubleToInt64Bits(actual.FilteredSignal.Span[i]))
                {
                    Assert.Fail($"{streamId} seq {input.Seq} sample {i}: filtered {actual.FilteredSignal.Span[i]:R}, reference {want:R}");
                }
            }
        }
    }

    private static int StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)hash;
    }

    public void Dispose()
    {
        Producer.Flush(TimeSpan.FromSeconds(10));
        Producer.Dispose();
    }
}
