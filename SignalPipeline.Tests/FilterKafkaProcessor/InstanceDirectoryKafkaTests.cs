using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor.Directory;
using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Cli;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The directory topic through real Kafka clients (the dev broker, librdkafka's mock cluster): announce, read, leave.</summary>
[Collection(MockBrokerCollection.Name)]
[Trait("Category", TestCategory.Integration)]
public sealed class InstanceDirectoryKafkaTests(MockBrokerFixture broker)
{
    [Fact]
    public void AnAnnouncementReachesAnotherInstancesTableAndItsTombstoneRemovesItAnInvalidRecordIsSkipped()
    {
        var topic = PipelineTopics.DefaultInstances;
        var id = $"i-{Guid.NewGuid():N}";
        using var announcer = new DirectoryLink(broker.Factory, topic, MockBrokerFixture.Partitions, NullLogger.Instance);
        using var reader = new DirectoryLink(broker.Factory, topic, MockBrokerFixture.Partitions, NullLogger.Instance);
        var table = new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System);

        broker.Produce(topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes("junk-" + id), Value = "{not json"u8.ToArray() });
        announcer.Publish(new InstanceEntry(id, "http://10.0.0.7:8080", [1, 3], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        Assert.True(announcer.Flush(TimeSpan.FromSeconds(30)));
        ReadUntil(reader, table, () => table.Live().Any(e => e.Instance == id));
        var entry = table.Live().Single(e => e.Instance == id);
        Assert.Equal("http://10.0.0.7:8080", entry.Url);
        Assert.Equal([1, 3], entry.Partitions);
        Assert.DoesNotContain(table.Live(), e => e.Instance == "junk-" + id);

        announcer.Remove(id);
        Assert.True(announcer.Flush(TimeSpan.FromSeconds(30)));
        ReadUntil(reader, table, () => table.Live().All(e => e.Instance != id));
    }

    [Fact]
    public void A_refused_announcement_is_kept_as_the_links_refusal_and_a_refused_read_throws_it()
    {
        // What InstanceDirectoryService stops the processor on (docs/processor.md, "Access refused (ACLs)"): WRITE on the
        // topic missing shows only in a delivery report, READ missing as the consumer's error, once per partition.
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInstances, 1);
        var factory = KafkaTestClients.CreateFactory(cluster.BootstrapServers);
        using var link = new DirectoryLink(factory, PipelineTopics.DefaultInstances, 1, NullLogger.Instance);

        cluster.PushRequestErrors(KafkaApi.Produce, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);
        link.Publish(new InstanceEntry("i-1", "http://10.0.0.7:8080", [0], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        link.Flush(TimeSpan.FromSeconds(30));
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, link.Refused?.Code);

        using var reader = new DirectoryLink(factory, PipelineTopics.DefaultInstances, 1, NullLogger.Instance);
        cluster.PushRequestErrors(KafkaApi.Fetch, [.. Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 100)]);
        var table = new InstanceDirectory(TimeSpan.FromMinutes(1), TimeProvider.System);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        KafkaException? refused = null;
        while (refused is null && DateTime.UtcNow < deadline)
        {
            refused = Record.Exception(() => reader.Poll(TimeSpan.FromMilliseconds(100), table)) as KafkaException;
        }

        Assert.Equal(ErrorCode.TopicAuthorizationFailed, refused?.Error.Code);
    }

    private static void ReadUntil(DirectoryLink reader, InstanceDirectory table, Func<bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!done() && DateTime.UtcNow < deadline)
        {
            reader.Poll(TimeSpan.FromMilliseconds(100), table);
        }

        Assert.True(done(), "The directory table did not catch up within 30 s.");
    }
}
