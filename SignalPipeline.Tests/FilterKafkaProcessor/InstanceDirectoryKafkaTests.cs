using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor.Directory;
using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Cli;
using SignalPipeline.Tests.Infrastructure;

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
