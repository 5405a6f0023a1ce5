using Confluent.Kafka;
using FilterKafkaProcessor;
using FilterKafkaProcessor.Kafka;
using FilterKafkaProcessor.Streaming;
using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.DevBroker;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// A transaction with more records than librdkafka's producer queue holds (<c>queue.buffering.max.messages</c>,
/// 100,000 by default; a <c>Processor:MaxBatchRecords</c> of up to 1,000,000 or a restore's releases can pass it): the
/// collector waits for room as Java's producer blocks, and the transaction commits. Until 2026-12-06 the record past the
/// queue threw <c>Local_QueueFull</c>, the batch was aborted and the same batch retried, forever.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class RecordCollectorQueueTests
{
    [Fact]
    public void ATransactionOfMoreRecordsThanTheProducersQueueHoldsWaitsForRoomAndCommitsThemAll()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic("sample-input", 1);
        cluster.CreateTopic("sample-output", 1);
        var factory = KafkaTestClients.CreateFactory(cluster.BootstrapServers, new Dictionary<string, string?>
        {
            ["Kafka:Producer:queue.buffering.max.messages"] = "10",
        });
        var options = new ProcessorOptions { InputTopic = "sample-input", OutputTopic = "sample-output" };
        using var collector = new RecordCollector(new KafkaSupplier(factory), options, "queue-test", NullLogger.Instance, TimeProvider.System);
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            GroupId = "queue-test",
            IsolationLevel = IsolationLevel.ReadCommitted,
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();

        collector.Initialize();
        collector.Begin();
        for (var i = 0; i < 100; i++)
        {
            collector.Output(0, new Message<byte[], byte[]> { Key = "s"u8.ToArray(), Value = BitConverter.GetBytes(i) });
        }

        Assert.True(collector.QueueFullWaits > 0, "the queue of 10 never filled: the test does not test the wait");
        collector.Commit([new TopicPartitionOffset("sample-input", 0, 1)], consumer.ConsumerGroupMetadata);

        consumer.Assign(new TopicPartitionOffset("sample-output", 0, Offset.Beginning));
        var values = new List<int>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (values.Count < 100 && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false, Message: { } message })
            {
                values.Add(BitConverter.ToInt32(message.Value));
            }
        }

        Assert.Equal(Enumerable.Range(0, 100), values);
    }
}
