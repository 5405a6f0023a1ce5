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
