using Confluent.Kafka;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Directory;
using FilterKafkaProcessor.Kafka;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// The processor's group consumer, directory consumer and transactional producer as docs/processor.md gives them ("Design in one picture",
/// Settings: <c>Kafka:Consumer:*</c>, <c>Kafka:Producer:*</c>): the shared factory's settings with the processor's own over them.
/// </summary>
public sealed class ProcessorKafkaClientTests
{
    [Fact]
    public void TheProducerLingers2MsWith30SecondTransactionsNoDeliveryReportFieldsAndNoTopicCreationWhenNothingIsConfigured()
    {
        var config = KafkaTestClients.CreateFactory("broker:9092")
            .CreateProducerConfig(c => KafkaSupplier.ConfigureProducer(c, "filter-kafka-processor-a"));

        Assert.Equal("filter-kafka-processor-a", config.TransactionalId);
        Assert.True(config.EnableIdempotence);
        Assert.Equal(2, config.LingerMs);
        Assert.Equal(30_000, config.TransactionTimeoutMs);
        Assert.Equal("none", config.DeliveryReportFields);
        Assert.False(config.EnableBackgroundPoll);

        // A deleted topic is not created again by the next record with the broker's defaults (an uncompacted changelog).
        Assert.False(config.AllowAutoCreateTopics);
    }

    [Fact]
    public void KafkaProducerSettingsWinButTheBackgroundPollStaysOff()
    {
        var factory = KafkaTestClients.CreateFactory("broker:9092", new Dictionary<string, string?>
        {
            ["Kafka:Producer:linger.ms"] = "10",
            ["Kafka:Producer:transaction.timeout.ms"] = "60000",
            ["Kafka:Producer:dotnet.producer.delivery.report.fields"] = "all",
            ["Kafka:Producer:dotnet.producer.enable.background.poll"] = "true",
        });

        var config = factory.CreateProducerConfig(c => KafkaSupplier.ConfigureProducer(c, "filter-kafka-processor-a"));

        Assert.Equal((10, 60_000, "all"), (config.LingerMs, config.TransactionTimeoutMs, config.DeliveryReportFields));
        Assert.False(config.EnableBackgroundPoll);
    }

    [Fact]
    public void TheGroupConsumerReadsCommittedWithoutAutoCommitOverTheFactorysDefaults()
    {
        var config = KafkaTestClients.CreateFactory("broker:9092")
            .CreateConsumerConfig(ProcessorOptions.ConsumerGroup, KafkaSupplier.ConfigureConsumer);

        Assert.Equal("filter-kafka-processor", config.GroupId);
        Assert.Equal(IsolationLevel.ReadCommitted, config.IsolationLevel);
        Assert.False(config.EnableAutoCommit);
        Assert.Equal((5, 6000, 2000), (config.FetchWaitMaxMs, config.SessionTimeoutMs, config.HeartbeatIntervalMs));
        Assert.Equal(16 * 1024, config.QueuedMaxMessagesKbytes);
    }

    [Fact]
    public void TheDirectoryConsumerCommitsNothingReadsFromTheStartAndPrefetchesAtMost1MiBUnlessKafkaConsumerSetsIt()
    {
        var config = KafkaTestClients.CreateFactory("broker:9092")
            .CreateConsumerConfig(DirectoryLink.ConsumerGroup, DirectoryLink.ConfigureConsumer);

        Assert.Equal("filter-kafka-processor-instances", config.GroupId);
        Assert.Equal((false, false, AutoOffsetReset.Earliest), (config.EnableAutoCommit, config.EnableAutoOffsetStore, config.AutoOffsetReset));
        Assert.Equal(1024, config.QueuedMaxMessagesKbytes); // librdkafka's default: 65536

        var configured = KafkaTestClients.CreateFactory("broker:9092", new Dictionary<string, string?> { ["Kafka:Consumer:queued.max.messages.kbytes"] = "2048" })
            .CreateConsumerConfig(DirectoryLink.ConsumerGroup, DirectoryLink.ConfigureConsumer);
        Assert.Equal(2048, configured.QueuedMaxMessagesKbytes);
    }
}
