using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;

namespace SignalPipeline.DevBroker;

/// <summary>The <c>DevBroker</c> configuration section.</summary>
public sealed class DevBrokerOptions : IValidatableObject
{
    public const string SectionName = "DevBroker";

    /// <summary>
    /// The fixed bootstrap port clients are given (the AppHost sets it to the port DCP allocated); 0 picks a free one.
    /// </summary>
    [SettingRange(0, 65535)]
    public int BootstrapPort { get; set; } = 9092;

    /// <summary>
    /// Comma-separated topics to create at start (the mock broker cannot serve CreateTopics); by default the pipeline's
    /// (<see cref="PipelineTopics.All"/>), all with <see cref="Partitions"/> partitions, so the changelog is co-partitioned.
    /// </summary>
    public string Topics { get; set; } = string.Join(',', PipelineTopics.All.Select(t => t.Name));

    [SettingRange(1, 1000)]
    public int Partitions { get; set; } = 8;

    [SettingRange(1, 10)]
    public int Brokers { get; set; } = 1;

    /// <summary>Small so a consumer group gets its first assignment quickly (Kafka's own default is 3000 ms).</summary>
    [SettingRange(0, 300_000)]
    public int GroupInitialRebalanceDelayMs { get; set; } = 100;

    /// <summary>
    /// Maps the <c>/faults/*</c> HTTP endpoints that inject request errors, broker outages and delays (tests only;
    /// see docs/kafka.md, "Fault injection"). Off: those paths answer 404.
    /// </summary>
    public bool FaultInjection { get; set; }

    public IReadOnlyList<string> TopicNames
        => (Topics ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// <see cref="Topics"/> names at least one topic, each a name Kafka takes and each once (a broker with none, or with a
    /// name the mock creates but no client can use, would start and then fail every service that checks its topics; a
    /// repeated name would stop it at creation with "Topic already exists" instead of naming the setting).
    /// </summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var setting = $"{SectionName}:{nameof(Topics)}";
        if (TopicNames.Count == 0)
        {
            yield return new ValidationResult($"{setting} = '{Topics}' names no topic: give comma-separated topic names.", [nameof(Topics)]);
        }

        foreach (var name in TopicNames.Where(n => n.Length > 249 || n is "." or ".." || !n.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')))
        {
            yield return new ValidationResult($"{setting}: '{name}' is not a Kafka topic name (ASCII letters, digits, '.', '_' and '-', at most 249).", [nameof(Topics)]);
        }

        // Kafka names are case-sensitive: 'a1' and 'A1' are two topics. The mock would refuse the second 'a1' at creation.
        foreach (var name in TopicNames.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key))
        {
            yield return new ValidationResult($"{setting}: '{name}' is named more than once; give each topic once.", [nameof(Topics)]);
        }
    }
}

/// <summary>The data annotations of <see cref="DevBrokerOptions"/> and its <see cref="DevBrokerOptions.Validate"/>, checked at start by generated code.</summary>
[OptionsValidator]
public sealed partial class DevBrokerOptionsValidator : IValidateOptions<DevBrokerOptions>;
