using System.Text;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.Inspection;
using FilterKafkaProcessor.State;
using FilterKafkaProcessor.Streaming;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.Filters;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// Processor instances over a <see cref="ProcessorHarness"/> that read a stream-config topic, as the service does:
/// each has its own config table and reader, and answers stream questions.
/// </summary>
public sealed class StreamConfigKit : IDisposable
{
    public const string ConfigTopic = "stream-config";

    private readonly List<Instance> _instances = [];
    private readonly Action<ProcessorOptions>? _configure;

    public StreamConfigKit(int partitions = 2, Action<ProcessorOptions>? configure = null)
    {
        Harness = new ProcessorHarness(partitions, configure);
        Harness.Cluster.CreateTopic(ConfigTopic, 1);
        _configure = configure;
    }

    public ProcessorHarness Harness { get; }


    public sealed record Instance(StreamThread Thread, StreamConfigReader Reader, StreamQueries Queries, StreamConfigTable Table);

    /// <summary>Starts an instance; <paramref name="deploy"/> changes its options after the kit's (a redeploy's new settings).</summary>
    public Instance Start(string instanceId, Action<ProcessorOptions>? deploy = null, ILogger? readerLog = null)
    {
        var options = new ProcessorOptions { RetryBackoffMs = 1, MaxRetryBackoffMs = 1, RestoreStallSeconds = 5, InstanceId = instanceId };
        _configure?.Invoke(options);
        deploy?.Invoke(options);
        var table = new StreamConfigTable(StreamFilterConfig.Create(options.Algorithm, options.Params), options.MaxStreamConfigs, Harness.Telemetry);
        var reader = new StreamConfigReader(Harness.Supplier, options, table, readerLog ?? NullLogger.Instance);
        reader.Start();
        reader.CatchUp(TimeSpan.FromSeconds(10), CancellationToken.None);
        var queries = new StreamQueries();
        var thread = new StreamThread(Harness.Supplier, options, new LocalChunkFilterer(options.Algorithm, options.Params), Harness.Telemetry,
            new ProcessorHealth(options, Harness.Time), Harness.Time, NullLogger.Instance, Harness.Cluster.MaxMessageBytes, table, queries);
        thread.Start();
        var instance = new Instance(thread, reader, queries, table);
        _instances.Add(instance);
        return instance;
    }

    /// <summary>Writes a stream-config record (null: a tombstone) as a user or the CLI would.</summary>
    public void Configure(string streamId, string? json) => Configure(Encoding.UTF8.GetBytes(streamId), json);

    /// <summary>Writes a stream-config record with the key as given, as any Kafka client may.</summary>
    public void Configure(byte[] key, string? json)
        => Harness.Cluster.Produce(ConfigTopic, 0, key, json is null ? null : Encoding.UTF8.GetBytes(json));

    /// <summary>Each instance reads its config topic, then steps; until <paramref name="done"/>.</summary>
    public void StepUntil(Func<bool> done, params Instance[] instances)
    {
        for (var i = 0; i < 200; i++)
        {
            foreach (var instance in instances)
            {
                instance.Reader.Poll(TimeSpan.Zero);
                instance.Thread.Step(CancellationToken.None);
            }

            if (done())
            {
                return;
            }
        }

        Assert.Fail("Not done after 200 steps.");
    }

    public void Produce(IEnumerable<SampleChunk> chunks, int partition = 0)
    {
        foreach (var chunk in chunks)
        {
            Harness.Produce(chunk, partition);
        }
    }

    public static List<SampleChunk> Chunks(string streamId, int from, int to) => [.. Enumerable.Range(from, to - from).Select(seq => ProcessorHarness.Chunk(streamId, seq))];

    /// <summary>Asserts each output equals <paramref name="filter"/> run over the inputs in order (the filter advances).</summary>
    public static void AssertFiltered(IStreamFilter filter, IReadOnlyList<SampleChunk> sent, IReadOnlyList<FilteredChunk> output)
    {
        Assert.Equal(sent.Select(c => c.Seq), output.Select(c => c.Seq));
        foreach (var (input, actual) in sent.Zip(output))
        {
            var expected = new double[input.Signal.Length];
            filter.Process(input.Signal.Span, expected);
            Assert.Equal(filter.Algorithm, actual.Algorithm);
            Assert.True(expected.AsSpan().SequenceEqual(actual.FilteredSignal.Span), $"{input.StreamId} seq {input.Seq} differs from one {filter.Algorithm} run");
        }
    }

    /// <summary>The stream's last committed checkpoint in the changelog.</summary>
    public StreamCheckpoint LastCheckpoint(string streamId)
        => StreamCheckpoint.Deserialize(Harness.Cluster.ReadCommitted(ProcessorHarness.Changelog)
            .Last(r => Encoding.UTF8.GetString(r.Message.Key ?? []) == streamId).Message.Value);

    public void Dispose()
    {
        foreach (var instance in _instances)
        {
            instance.Thread.Dispose();
            instance.Reader.Dispose();
        }

        Harness.Dispose();
    }
}
