using Confluent.Kafka;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// The ceiling every processor figure is reported against (issue 14): copies <c>sample-input</c> to <c>sample-output</c>
/// unchanged (key, value, headers), with the processor's consumer and producer settings (read_committed, 16 MiB
/// prefetch, linger 2 ms, idempotent, the producer polled from the loop) but no parsing, no filtering, no transactions
/// and no offset commits. Runs on its own thread in the bench process; the output consumer reads the copies as inputs.
/// </summary>
public sealed class PassthroughCopy : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly string _brokers;

    private PassthroughCopy(string brokers)
    {
        _brokers = brokers;
        _loop = Task.Factory.StartNew(Run, TaskCreationOptions.LongRunning);
    }

    public static PassthroughCopy Start(string brokers) => new(brokers);

    private void Run()
    {
        var consumerConfig = new ConsumerConfig
        {
            BootstrapServers = _brokers,
            GroupId = "bench-passthrough",
            IsolationLevel = IsolationLevel.ReadCommitted,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            QueuedMaxMessagesKbytes = 16 * 1024,
        };
        KafkaClientFactory.ApplyConsumerDefaults(consumerConfig);
        using var consumer = new ConsumerBuilder<byte[], byte[]>(KafkaClientProperties.ApplyFromEnvironment(consumerConfig)).Build();
        using var producer = new ProducerBuilder<byte[], byte[]>(KafkaClientProperties.ApplyFromEnvironment(new ProducerConfig
        {
            BootstrapServers = _brokers,
            EnableIdempotence = true,
            LingerMs = 2,
            EnableBackgroundPoll = false,
        })).Build();

        int outputPartitions;
        using (var admin = new DependentAdminClientBuilder(producer.Handle).Build())
        {
            outputPartitions = admin.GetMetadata("sample-output", TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Count;
        }

        consumer.Subscribe("sample-input");
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var record = consumer.Consume(100);
                if (record is not null)
                {
                    // The processor's partition mapping: input partition p goes to output partition p % count.
                    Produce(producer, new TopicPartition("sample-output", record.Partition.Value % outputPartitions), record.Message);
                }

                producer.Poll(TimeSpan.Zero);
            }

            producer.Flush(TimeSpan.FromSeconds(10));
        }
        finally
        {
            consumer.Close();
        }
    }

    private void Produce(IProducer<byte[], byte[]> producer, TopicPartition partition, Message<byte[], byte[]> message)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                producer.Produce(partition, message);
                return;
            }
            catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(5));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop.WaitAsync(TimeSpan.FromSeconds(20)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}
