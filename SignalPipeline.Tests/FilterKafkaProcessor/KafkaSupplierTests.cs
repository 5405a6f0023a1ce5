using FilterKafkaProcessor.Kafka;
using SignalPipeline.Tests.Cli;
using SignalPipeline.Tests.Infrastructure;

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
}
