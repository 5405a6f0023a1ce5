using Confluent.Kafka;
using SignalPipeline.DevBroker;
using SignalPipeline.Tests.Infrastructure;
using Xunit.Sdk;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// <see cref="ProcessorTestKit"/>'s own promises (docs/testing.md): a read that the broker's dropped records would make
/// look like the processor's loss fails and says so. Against an in-process dev broker, which keeps the newest ~5 MiB of a
/// partition (PLATFORM.md).
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class ProcessorTestKitTests
{
    private const string Topic = "kit-reads";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadAsync_fails_with_the_explanation_when_the_log_start_moved_past_the_offset_it_reads_from()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(Topic, 2);
        using var kit = ProcessorTestKit.ForBroker(cluster.BootstrapServers);
        // 8 MiB to partition 0, past what the broker keeps of a partition, so its oldest records are dropped; one record
        // to partition 1, whose log start stays at 0.
        var value = new byte[256 * 1024];
        for (var i = 0; i < 32; i++)
        {
            kit.Producer.Produce(new TopicPartition(Topic, 0), new Message<byte[], byte[]> { Key = [(byte)i], Value = value });
        }

        kit.Producer.Produce(new TopicPartition(Topic, 1), new Message<byte[], byte[]> { Key = [1], Value = [1] });
        kit.Flush();

        var kept = await kit.ReadAsync([new TopicPartitionOffset(Topic, 1, 0)], records => records.Count == 1, Timeout, TimeSpan.Zero);
        Assert.Equal(0, Assert.Single(kept).Offset.Value);

        var read = () => kit.ReadAsync([new TopicPartitionOffset(Topic, 0, 0)], records => records.Count > 0, Timeout, TimeSpan.Zero);
        var failure = await Assert.ThrowsAsync<TrueException>(read);

        Assert.Matches(
            @$"^{Topic} \[\[0\]\]: the broker's log now starts at offset [1-9][0-9]*, after the offset 0 the test began at: the broker dropped records before they were read \(the dev broker keeps the newest ~5 MiB of a partition\); the test writes too much to one partition",
            failure.Message);
    }
}
