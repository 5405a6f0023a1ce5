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

    /// <summary>
    /// The hidden <c>signal-pipeline bench passthrough-copy BROKERS</c>; runs until SIGTERM, then says <c>interrupted</c>,
    /// exit 130, as the other bench verbs (docs/benchmarks.md): the bench stops it so after each pass-through case.
    /// </summary>
    public static Command Create()
    {
        var brokers = new Argument<string>("brokers") { Description = "Kafka bootstrap servers." };
        var command = new Command(CommandName, "The bench's pass-through copy (sample-input to sample-output, unchanged).") { brokers };
        command.Hidden = true;

        // VerbAction, as bench itself: empty BROKERS or a missing topic is exit 2 naming it, a cluster that does not answer
        // one error line naming it, exit 1, and SIGTERM "interrupted", exit 130. Until 2026-12-05 the first two were .NET's
        // stack trace (or a copy that never ended, its input missing) and SIGTERM exit 0 or 143.
        VerbAction.Set(command, (parse, output, cancellationToken) => Task.FromResult(Run(parse.GetValue(brokers)!, output, cancellationToken)), ExitCodes.Interrupted);
        return command;
    }

    private static int Run(string brokers, VerbOutput output, CancellationToken stop)
    {
        if (string.IsNullOrWhiteSpace(brokers))
        {
            throw new UsageException("BROKERS is empty: give the Kafka bootstrap servers, host:port[,host:port].");
        }

        // The project's one client setup, as the operations verbs (the processor's consumer defaults included): librdkafka's
        // warnings are `kafka warning: ...` lines on stderr (the bench's passthrough.log), not its raw lines.
        using var clients = KafkaConnection.CreateFactory(brokers, output.Error, KafkaConnection.BenchClientId);
        using var consumer = clients.CreateConsumer<byte[], byte[]>("bench-passthrough", config =>
        {
            config.IsolationLevel = IsolationLevel.ReadCommitted;
            config.EnableAutoCommit = false;
            config.EnableAutoOffsetStore = false;
            config.AutoOffsetReset = AutoOffsetReset.Earliest;
            config.QueuedMaxMessagesKbytes = 16 * 1024;
        });
        using var producer = clients.CreateProducer<byte[], byte[]>(config =>
        {
            config.EnableIdempotence = true;
            config.LingerMs = 2;
            config.EnableBackgroundPoll = false;
            config.DeliveryReportFields = "none";
        });

        int outputPartitions;
        using (var admin = new DependentAdminClientBuilder(producer.Handle).Build())
        {
            // Both topics looked up in the list of all (a metadata request naming sample-output created it where topics
            // are auto-created, with the broker's partition count): a missing one is bad input, as for the verbs that read one.
            var topics = admin.FindTopics([PipelineTopics.DefaultInput, PipelineTopics.DefaultOutput], TimeSpan.FromSeconds(10));
            if (Array.FindIndex(topics, t => t is not { Partitions.Count: > 0 }) is var missing and >= 0)
            {
                throw new UsageException(KafkaConnection.TopicsMissing([missing == 0 ? PipelineTopics.DefaultInput : PipelineTopics.DefaultOutput], brokers));
            }

            outputPartitions = topics[1]!.Partitions.Count;
        }

        consumer.Subscribe(PipelineTopics.DefaultInput);
        long copied = 0;
        while (!stop.IsCancellationRequested)
        {
            var record = consumer.Consume(100);
            if (record is not null)
            {
                // The processor's partition mapping: input partition p goes to output partition p % count.
                Produce(producer, new TopicPartition(PipelineTopics.DefaultOutput, record.Partition.Value % outputPartitions), record.Message, stop);
                copied++;
            }

            producer.Poll(TimeSpan.Zero);
        }

        // At most 1 s: System.CommandLine ends the process 2 s after SIGTERM (exit 143, without the word).
        producer.Flush(TimeSpan.FromSeconds(1));
        output.Out.WriteLine($"pass-through: copied {Counted.Of(copied, "record")}");

        // The loop ends only when stopped (SIGTERM from the bench, or Ctrl+C).
        throw new OperationCanceledException(stop);
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
