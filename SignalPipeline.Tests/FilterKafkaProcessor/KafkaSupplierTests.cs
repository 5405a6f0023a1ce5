using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;
using SignalPipeline.DevBroker;
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
