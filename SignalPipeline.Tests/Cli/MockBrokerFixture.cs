using Confluent.Kafka;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.Cli;

/// <summary>
/// An in-process dev broker (librdkafka's mock cluster, random port) with the pipeline's topics, for fast tests of the
/// operations verbs; each test uses its own stream ids.
/// </summary>
public sealed class MockBrokerFixture : IDisposable
{
    public const int Partitions = 4;

    private readonly MockKafkaCluster _cluster;

    public MockBrokerFixture()
    {
        _cluster = MockKafkaCluster.Start(1);
        foreach (var topic in PipelineTopics.All)
        {
            _cluster.CreateTopic(topic.Name, Partitions);
        }

        Factory = KafkaTestClients.CreateFactory(Bootstrap, new Dictionary<string, string?> { [KafkaSettings.StatisticsIntervalSetting] = "0" });
        Producer = Factory.CreateProducer<byte[], byte[]>(config => config.LingerMs = 1);
    }

    public string Bootstrap => _cluster.BootstrapServers;

    /// <summary>The cluster, for fault injection; a test undoes its faults (<see cref="MockKafkaCluster.ClearFaults"/>, leaders moved back).</summary>
    public MockKafkaCluster Cluster => _cluster;

    /// <summary>A topic of <see cref="Partitions"/> partitions (the mock broker cannot create topics through the admin API).</summary>
    public void CreateTopic(string topic) => _cluster.CreateTopic(topic, Partitions);

    /// <summary>Creates a topic of one test's own, named <paramref name="prefix"/> and a unique suffix, and returns its name.</summary>
    public string NewTopic(string prefix)
    {
        var topic = $"{prefix}-{Guid.NewGuid():N}";
        CreateTopic(topic);
        return topic;
    }

    public KafkaClientFactory Factory { get; }

    public IProducer<byte[], byte[]> Producer { get; }

    public void Produce(string topic, Message<byte[], byte[]> message)
    {
        Producer.Produce(topic, message);
        Producer.Flush(TimeSpan.FromSeconds(30));
    }

    public void Produce(TopicPartition partition, Message<byte[], byte[]> message)
    {
        Producer.Produce(partition, message);
        Producer.Flush(TimeSpan.FromSeconds(30));
    }

    /// <summary>Every record of <paramref name="topic"/> whose key is <paramref name="key"/>, from the beginning to the current end.</summary>
    public List<ConsumeResult<byte[], byte[]>> ReadAll(string topic, string key)
    {
        using var consumer = Factory.CreateConsumer<byte[], byte[]>($"test-{Guid.NewGuid():N}", config =>
        {
            config.EnableAutoCommit = false;
            config.EnablePartitionEof = true;
        });
        consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var records = new List<ConsumeResult<byte[], byte[]>>();
        var ended = new HashSet<int>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (ended.Count < Partitions && DateTime.UtcNow < deadline)
        {
            var record = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (record is null)
            {
                continue;
            }

            if (record.IsPartitionEOF)
            {
                ended.Add(record.Partition.Value);
            }
            else if (record.Message.Key is { } k && System.Text.Encoding.UTF8.GetString(k) == key)
            {
                records.Add(record);
            }
        }

        Assert.True(ended.Count == Partitions, $"{topic}: did not reach the end of every partition");
        return records;
    }

    public static SampleChunk DecodeInput(ConsumeResult<byte[], byte[]> record)
    {
        Assert.True(SampleCodec.TryDecodeSampleChunk(record.Message.Key, record.Message.Value, record.Message.Headers, out var chunk, out var error), error.ToString());
        return chunk;
    }

    public void Dispose()
    {
        Producer.Dispose();
        _cluster.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class MockBrokerCollection : ICollectionFixture<MockBrokerFixture>
{
    public const string Name = "Cli mock broker";
}
