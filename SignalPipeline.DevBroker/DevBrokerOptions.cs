using System.ComponentModel.DataAnnotations;

namespace SignalPipeline.DevBroker;

/// <summary>The <c>DevBroker</c> configuration section.</summary>
public sealed class DevBrokerOptions
{
    public const string SectionName = "DevBroker";

    /// <summary>
    /// The fixed bootstrap port clients are given (the AppHost sets it to the port DCP allocated); 0 picks a free one.
    /// </summary>
    [Range(0, 65535)]
    public int BootstrapPort { get; set; } = 9092;

    /// <summary>Comma-separated topics to create at start (the mock broker cannot serve CreateTopics).</summary>
    [Required]
    public string Topics { get; set; } = "sample-input,sample-output,sample-dlq,filter-kafka-processor-state-changelog";

    [Range(1, 1000)]
    public int Partitions { get; set; } = 8;

    [Range(1, 10)]
    public int Brokers { get; set; } = 1;

    /// <summary>Small so a consumer group gets its first assignment quickly (Kafka's own default is 3000 ms).</summary>
    [Range(0, 300_000)]
    public int GroupInitialRebalanceDelayMs { get; set; } = 100;

    /// <summary>
    /// Maps the <c>/faults/*</c> HTTP endpoints that inject request errors, broker outages and delays (tests only;
    /// see docs/kafka.md, "Fault injection"). Off: those paths answer 404.
    /// </summary>
    public bool FaultInjection { get; set; }

    public IReadOnlyList<string> TopicNames
        => Topics.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
