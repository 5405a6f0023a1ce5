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
/// <see cref="RecordCollector.TransactionError"/> with librdkafka and the dev broker: a transaction that failed on an
/// abortable error (here a partition the coordinator refuses to add, as for a topic the principal may not write) shows
/// the application only consequences (records purged, new records refused with <c>Local_State</c>); the collector asks
/// the transaction for the error itself, which the stream thread decides on (docs/processor.md, "Access refused").
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class RecordCollectorRefusalTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void A_transaction_that_only_refuses_new_records_is_asked_the_error_that_failed_it()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic("sample-input", 1);
        cluster.CreateTopic("sample-output", 1);
        var options = new ProcessorOptions { InputTopic = "sample-input", OutputTopic = "sample-output" };
        using var collector = new RecordCollector(new KafkaSupplier(KafkaTestClients.CreateFactory(cluster.BootstrapServers)), options, "refusal-test", NullLogger.Instance, TimeProvider.System);
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "refusal-test" }).Build();
        TopicPartitionOffset[] offsets = [new("sample-input", 0, 1)];
        collector.Initialize();
        collector.Begin();
        cluster.PushRequestErrors(KafkaApi.AddPartitionsToTxn, ErrorCode.TopicAuthorizationFailed);

        // The first record is queued; once the coordinator has refused its partition, the next one is refused locally.
        var deadline = DateTime.UtcNow + Timeout;
        ProduceException<byte[], byte[]>? refused = null;
        while (refused is null && DateTime.UtcNow < deadline)
        {
            refused = Record.Exception(() => collector.Output(0, new Message<byte[], byte[]> { Key = "s"u8.ToArray(), Value = "v"u8.ToArray() })) as ProduceException<byte[], byte[]>;
            Thread.Sleep(10);
        }

        Assert.NotNull(refused);
        Assert.Equal(ErrorCode.Local_State, refused.Error.Code);

        var error = Assert.IsType<KafkaTxnRequiresAbortException>(collector.TransactionError(refused, offsets, consumer.ConsumerGroupMetadata));
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, error.Error.Code);
        var purged = new KafkaTxnRequiresAbortException(new Error(ErrorCode.Local_PurgeQueue, "purged"));
        Assert.Equal(ErrorCode.TopicAuthorizationFailed, Assert.IsType<KafkaTxnRequiresAbortException>(collector.TransactionError(purged, offsets, consumer.ConsumerGroupMetadata)).Error.Code);

        // Anything else is what it says: nothing is asked.
        var other = new KafkaTxnRequiresAbortException(new Error(ErrorCode.NotEnoughReplicas));
        Assert.Same(other, collector.TransactionError(other, offsets, consumer.ConsumerGroupMetadata));

        collector.Abort(TransactionFailure.Abortable);
        collector.Begin();
        collector.Output(0, new Message<byte[], byte[]> { Key = "s"u8.ToArray(), Value = "v"u8.ToArray() });
        collector.Commit(offsets, consumer.ConsumerGroupMetadata);
    }
}
