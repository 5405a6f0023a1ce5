using Confluent.Kafka;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Kafka;
using SignalPipeline.DevBroker;
using SignalPipeline.Filters;
using SignalPipeline.Tests.Cli;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The real client supplier against the dev broker, which (like Apache Kafka by default) creates a topic a metadata request names.</summary>
[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class KafkaSupplierTests(MockBrokerFixture broker)
{
    [Fact]
    public void PartitionCountOfATopicThatDoesNotExistIsNullAndLeavesItMissing()
    {
        var supplier = new KafkaSupplier(broker.Factory);
        var present = broker.NewTopic("present");
        var missing = $"nosuch-{Guid.NewGuid():N}";

        Assert.Equal(MockBrokerFixture.Partitions, supplier.PartitionCount(present));
        Assert.Null(supplier.PartitionCount(missing));
        Assert.Null(supplier.PartitionCount(missing));

        using var admin = broker.Factory.CreateAdminClient();
        Assert.DoesNotContain(admin.GetMetadata(TimeSpan.FromSeconds(30)).Topics, t => t.Topic == missing);
    }

    [Fact]
    public void ObserveTopicsGivesThePartitionsOfTheTopicsThereAndNoConfigsWhereTheClusterRefusesToDescribeThem()
    {
        // What the stream thread asks when the broker refuses a record for what its topic takes; the dev broker refuses
        // DescribeConfigs, so the configs stay unknown (and the retries go on), and a missing topic is left out, not created.
        var supplier = new KafkaSupplier(broker.Factory);
        var present = broker.NewTopic("observed");
        var missing = $"nosuch-{Guid.NewGuid():N}";

        var observed = supplier.ObserveTopics([present, missing], [present, missing]);

        var topic = Assert.Single(observed.Values);
        Assert.Equal((present, MockBrokerFixture.Partitions, (IReadOnlyDictionary<string, string>?)null), (topic.Name, topic.Partitions, topic.Configs));
        Assert.Null(supplier.PartitionCount(missing));
        Assert.Equal(broker.Factory.Settings.BootstrapServers, supplier.BootstrapServers);
    }

    [Fact]
    public void ARestoreReadersRecordsCarryNoTopicNameAndTheStreamConfigReaderNamesItsTopicItself()
    {
        // A restore reads a million records: the topic's name is not made into a string for each (docs/benchmarks.md,
        // "Where a restore's time goes"). The stream-config reader, which reads through the same consumer, names the topic
        // in its warnings from its own settings.
        var topic = broker.NewTopic("configs");
        broker.Produce(new TopicPartition(topic, 0), new Message<byte[], byte[]> { Key = [(byte)'s', 0xFF], Value = """{"algorithm":"rls"}"""u8.ToArray() });
        var supplier = new KafkaSupplier(broker.Factory);

        using (var consumer = supplier.GetRestoreConsumer("restore-fields"))
        {
            consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
            var record = consumer.Consume(TimeSpan.FromSeconds(30));
            Assert.NotNull(record);
            Assert.Null(record.Topic);
            Assert.Equal((0, 0L), (record.Partition.Value, record.Offset.Value));
            consumer.Close();
        }

        var options = new ProcessorOptions { StreamConfigTopic = topic };
        var table = new StreamConfigTable(StreamFilterConfig.Create(options.Algorithm, options.Params), options.MaxStreamConfigs);
        var log = new Microsoft.Extensions.Logging.Testing.FakeLogger();
        using var reader = new StreamConfigReader(supplier, options, table, log);
        reader.Start();
        reader.CatchUp(TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal(1, table.IgnoredKeys);
        var warning = Assert.Single(log.Collector.GetSnapshot(), r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning).Message;
        Assert.StartsWith($"Stream-config record at {topic} [[0]] @0 is ignored: the record key is not valid UTF-8: 73FF", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void PartitionCountOfATopicTheClusterReportsAnErrorForNamesTheError()
    {
        // There but without a leader yet: not "does not exist" (the processor's start would say run topics ensure).
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic("sample-input", 2);
        cluster.SetTopicError("sample-input", ErrorCode.LeaderNotAvailable);
        var supplier = new KafkaSupplier(KafkaTestClients.CreateFactory(cluster.BootstrapServers));

        var error = Assert.Throws<KafkaException>(() => supplier.PartitionCount("sample-input"));

        Assert.Equal(ErrorCode.LeaderNotAvailable, error.Error.Code);
        Assert.Contains("topic 'sample-input': ", error.Message);
    }
}
