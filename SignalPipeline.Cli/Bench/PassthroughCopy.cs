using System.CommandLine;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Bench;

/// <summary>
/// The ceiling every processor figure is reported against (issue 14): copies <c>sample-input</c> to <c>sample-output</c>
/// unchanged (key, value, headers), with the processor's consumer and producer settings (read_committed, 16 MiB
/// prefetch, fetch wait 5 ms, linger 2 ms, idempotent, the producer polled from the loop, no delivery-report fields; its
/// GC settings too, <see cref="PeerProcess.StartPassthrough"/>) but no parsing, no filtering,
/// no transactions and no offset commits. Runs as its own process (<see cref="PeerProcess"/>), as the processor does;
/// the bench's output consumer reads the copies as the inputs they are.
/// </summary>
public static class PassthroughCopy
{
    public const string CommandName = "passthrough-copy";

    /// <summary>The hidden <c>signal-pipeline bench passthrough-copy BROKERS</c>; runs until SIGTERM.</summary>
    public static Command Create()
    {
        var brokers = new Argument<string>("brokers") { Description = "Kafka bootstrap servers." };
        var command = new Command(CommandName, "The bench's pass-through copy (sample-input to sample-output, unchanged).") { brokers };
        command.Hidden = true;
        command.SetAction((parse, cancellationToken) => Task.Run(() => Run(parse.GetValue(brokers)!, cancellationToken), CancellationToken.None));
        return command;
    }

    private static int Run(string brokers, CancellationToken stop)
    {
        var consumerConfig = new ConsumerConfig
        {
            BootstrapServers = brokers,
            ClientId = KafkaConnection.BenchClientId,
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
            BootstrapServers = brokers,
            ClientId = KafkaConnection.BenchClientId,
            EnableIdempotence = true,
            LingerMs = 2,
            EnableBackgroundPoll = false,
            DeliveryReportFields = "none",
        })).Build();

        int outputPartitions;
        using (var admin = new DependentAdminClientBuilder(producer.Handle).Build())
        {
            outputPartitions = admin.GetMetadata("sample-output", TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Count;
        }

        consumer.Subscribe("sample-input");
        long copied = 0;
        while (!stop.IsCancellationRequested)
        {
            var record = consumer.Consume(100);
            if (record is not null)
            {
                // The processor's partition mapping: input partition p goes to output partition p % count.
                Produce(producer, new TopicPartition("sample-output", record.Partition.Value % outputPartitions), record.Message, stop);
                copied++;
            }

            producer.Poll(TimeSpan.Zero);
        }

        producer.Flush(TimeSpan.FromSeconds(5));
        Console.WriteLine($"pass-through: copied {copied} records");
        return 0;
    }

    private static void Produce(IProducer<byte[], byte[]> producer, TopicPartition partition, Message<byte[], byte[]> message, CancellationToken stop)
    {
        try
        {
            producer.ProduceWaitingForRoom(partition, message, deliveryHandler: null, TimeSpan.FromMilliseconds(5), stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped while the queue was full: the copy ends here, as before.
        }
    }
}
