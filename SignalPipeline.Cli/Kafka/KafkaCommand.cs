using System.CommandLine;

namespace SignalPipeline.Cli.Kafka;

/// <summary><c>signal-pipeline kafka ...</c>: tools for the pipeline's Kafka (docs/kafka.md).</summary>
public static class KafkaCommand
{
    public static Command Create() => new("kafka", "Tools for the pipeline's Kafka cluster (same settings as the services).")
    {
        TopicsCommand.Create(),
    };
}
