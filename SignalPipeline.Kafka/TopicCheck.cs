using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace SignalPipeline.Kafka;

/// <summary>
/// A pipeline topic under the name this deployment uses (the default or its <c>*_TOPIC</c> setting);
/// <paramref name="WritesUpTo"/>: the largest record or batch the checking service may write to it (its producer's
/// <c>message.max.bytes</c>), which the topic's <c>max.message.bytes</c> and <c>segment.bytes</c> must take.
/// </summary>
public sealed record TopicRequirement(TopicDefinition Definition, string Name, long? WritesUpTo = null)
{
    /// <summary>The topic under its default name.</summary>
    public static TopicRequirement Default(TopicDefinition definition) => new(definition, definition.Name);
}

/// <summary>A topic as the cluster has it. <paramref name="Configs"/> is null when the cluster would not describe them.</summary>
public sealed record ObservedTopic(string Name, int Partitions, IReadOnlyDictionary<string, string>? Configs);

/// <summary>
/// One thing wrong with one topic, in words a user can act on, and what fixes it: <see cref="TopicFix.Create"/> for a
/// missing topic; for a wrong one, the change it needs (<paramref name="Partitions"/>: the count to raise it to;
/// <paramref name="MaxMessageBytes"/>: the <c>max.message.bytes</c> to raise it to; <paramref name="SegmentBytes"/>: the
/// <c>segment.bytes</c>).
/// </summary>
public sealed record TopicProblem(string Topic, string Message, TopicFix Fix = TopicFix.Create, int Partitions = 0, long MaxMessageBytes = 0, long SegmentBytes = 0);

/// <summary>What fixes a <see cref="TopicProblem"/>.</summary>
public enum TopicFix
{
    /// <summary>The topic is missing: <see cref="TopicCheck.FixCommand"/> creates it.</summary>
    Create,

    /// <summary>The topic has too few partitions: Kafka's <c>kafka-topics --alter --partitions</c>.</summary>
    RaisePartitions,

    /// <summary>A topic that must be compacted is not: Kafka's <c>kafka-configs --alter --add-config cleanup.policy=compact</c>.</summary>
    Compact,

    /// <summary>
    /// A topic takes smaller records than the service may write: Kafka's <c>kafka-configs --alter --add-config
    /// max.message.bytes=N</c>, or a smaller <c>Kafka:Producer:message.max.bytes</c>.
    /// </summary>
    RaiseMaxMessageBytes,

    /// <summary>The dead-letter topic is compacted: Kafka's <c>kafka-configs --alter --add-config cleanup.policy=delete</c>.</summary>
    Uncompact,

    /// <summary>
    /// A topic's log segments are smaller than a batch the service may write (the broker refuses such a batch,
    /// <c>RECORD_LIST_TOO_LARGE</c>): Kafka's <c>kafka-configs --alter --add-config segment.bytes=N</c>, or a smaller
    /// <c>Kafka:Producer:message.max.bytes</c>.
    /// </summary>
    RaiseSegmentBytes,
}

/// <summary>
/// Whether the cluster has the pipeline's topics as <see cref="PipelineTopics"/> defines them: each exists, the changelog
/// is compacted and has at least as many partitions as the input (its partition i holds the state of input partition i),
/// the dead-letter topic is not compacted (a letter without a key would be refused),
/// a topic written takes the largest record and batch its writer may send (<see cref="TopicRequirement.WritesUpTo"/>,
/// against its <c>max.message.bytes</c> and <c>segment.bytes</c>: a broker refuses a larger one, and the transaction
/// holding it would fail on every retry), and, when asked, the input has at
/// least a given number of partitions (the autoscaler's maximum). The processor, the
/// bridge and the generator run it at start; <c>signal-pipeline kafka topics check</c> runs it on demand.
/// </summary>
public static class TopicCheck
{
    /// <summary>The command that creates what is missing (and never changes an existing topic).</summary>
    public const string FixCommand = "signal-pipeline kafka topics ensure";

    /// <summary>The pure part: the problems of <paramref name="observed"/> against <paramref name="required"/>.</summary>
    /// <param name="required">The topics to check.</param>
    /// <param name="observed">What the cluster has, by topic name (topics it lacks are absent).</param>
    /// <param name="minInputPartitions">When set, fewer input partitions than this is a problem.</param>
    public static IReadOnlyList<TopicProblem> Evaluate(
        IEnumerable<TopicRequirement> required, IReadOnlyDictionary<string, ObservedTopic> observed, int? minInputPartitions = null)
    {
        var problems = new List<TopicProblem>();
        var requirements = required.ToList();
        var input = requirements.FirstOrDefault(r => r.Definition.Role == TopicRole.Input);
        var inputPartitions = input is not null && observed.TryGetValue(input.Name, out var inputTopic) ? inputTopic.Partitions : (int?)null;

        foreach (var requirement in requirements)
        {
            var name = requirement.Name;
            if (!observed.TryGetValue(name, out var topic))
            {
                problems.Add(new(name, $"topic '{name}' ({requirement.Definition.Setting}) does not exist"));
                continue;
            }

            if (requirement.Definition.Role == TopicRole.Input && minInputPartitions is { } min && topic.Partitions < min)
            {
                problems.Add(new(name, $"topic '{name}' has {Count(topic.Partitions)} partitions, fewer than {Count(min)} (the most processor replicas that get work)",
                    TopicFix.RaisePartitions, min));
            }

            // Only the changelog is read by partition alongside the input; the other compacted topics are read whole.
            if (requirement.Definition.Role == TopicRole.Changelog && inputPartitions is { } partitions && topic.Partitions < partitions)
            {
                problems.Add(new(name, $"changelog '{name}' has {Count(topic.Partitions)} partitions, fewer than the input '{input!.Name}' ({Count(partitions)}): it must be co-partitioned with the input",
                    TopicFix.RaisePartitions, partitions));
            }

            if (requirement.Definition.IsCompacted
                && topic.Configs is { } configs && !(configs.TryGetValue("cleanup.policy", out var policy) && policy.Contains("compact", StringComparison.Ordinal)))
            {
                var (what, holds) = Compacted(requirement.Definition.Role);
                problems.Add(new(name, $"{what} '{name}' is not compacted (cleanup.policy={policy ?? "unknown"}): {holds} would expire with retention", TopicFix.Compact));
            }

            // Dead letters are kept until replayed: compacted, only the last letter of each key would stay, and the broker
            // refuses a letter without a key (the poison record had none), whose transaction would fail on every retry.
            if (requirement.Definition.Role == TopicRole.DeadLetters
                && topic.Configs is { } letters && letters.TryGetValue("cleanup.policy", out var lettersPolicy) && lettersPolicy.Contains("compact", StringComparison.Ordinal))
            {
                problems.Add(new(name, $"dead-letter topic '{name}' ({requirement.Definition.Setting}) is compacted (cleanup.policy={lettersPolicy}): it would keep only the last letter of each key, "
                    + "and the broker refuses a letter without a key (a poison record that had none), whose transaction would fail on every retry", TopicFix.Uncompact));
            }

            if (requirement.WritesUpTo is { } writes && Bytes(topic.Configs, "max.message.bytes") is { } takes && takes < writes)
            {
                problems.Add(new(name, $"topic '{name}' ({requirement.Definition.Setting}) takes records of at most {takes} bytes (max.message.bytes), fewer than the {writes} this service may write "
                    + $"({KafkaSettings.ProducerSection}:message.max.bytes): the broker would refuse such a record, and its transaction would fail on every retry", TopicFix.RaiseMaxMessageBytes, MaxMessageBytes: writes));
            }

            // The broker refuses a batch larger than a log segment (RecordBatchTooLargeException), whatever max.message.bytes
            // says: a compacted topic's segment.bytes is often lowered so that compaction runs sooner.
            if (requirement.WritesUpTo is { } batch && Bytes(topic.Configs, "segment.bytes") is { } segmentBytes && segmentBytes < batch)
            {
                problems.Add(new(name, $"topic '{name}' ({requirement.Definition.Setting}) keeps log segments of at most {segmentBytes} bytes (segment.bytes), fewer than the {batch} a batch of this service may hold "
                    + $"({KafkaSettings.ProducerSection}:message.max.bytes): the broker would refuse such a batch (RECORD_LIST_TOO_LARGE), and its transaction would fail on every retry", TopicFix.RaiseSegmentBytes, SegmentBytes: batch));
            }
        }

        return problems;
    }

    /// <summary>Asks the cluster (metadata, and the configs of the compacted topics and of those written) and evaluates the answer.</summary>
    /// <exception cref="KafkaException">The cluster did not answer the metadata request within <paramref name="timeout"/>.</exception>
    public static async Task<IReadOnlyList<TopicProblem>> CheckAsync(
        IAdminClient admin, IEnumerable<TopicRequirement> required, TimeSpan timeout, int? minInputPartitions = null)
    {
        var requirements = required.ToList();
        var observed = await ObserveAsync(admin, requirements.Select(r => r.Name), requirements.Where(Described).Select(r => r.Name), timeout);
        return Evaluate(requirements, observed, minInputPartitions);
    }

    /// <summary>Whether <see cref="Evaluate"/> checks the topic's configs (so they are asked for): a compacted topic's
    /// policy, the dead-letter topic's, and the <c>max.message.bytes</c> and <c>segment.bytes</c> of a topic written.</summary>
    public static bool Described(TopicRequirement requirement)
        => requirement.Definition.IsCompacted || requirement.Definition.Role == TopicRole.DeadLetters || requirement.WritesUpTo is not null;

    /// <summary>
    /// The named topics the cluster has: partition counts from metadata, configs of <paramref name="describe"/> from
    /// DescribeConfigs. A cluster that refuses DescribeConfigs (librdkafka's mock dev broker, or an ACL without
    /// DescribeConfigs) leaves the configs null: they are then not checked, rather than reported wrong.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, ObservedTopic>> ObserveAsync(
        IAdminClient admin, IEnumerable<string> names, IEnumerable<string> describe, TimeSpan timeout)
    {
        var wanted = names.ToHashSet(StringComparer.Ordinal);
        // All topics, not a request per topic: asking for one by name can auto-create it on a cluster that allows it.
        var metadata = admin.GetMetadata(timeout);

        // A topic the cluster has but reports an error for (no leader yet, not authorised) is not a missing topic.
        var topics = metadata.Topics
            .Where(t => wanted.Contains(t.Topic))
            .Select(TopicLookup.Usable)
            .OfType<TopicMetadata>()
            .ToDictionary(t => t.Topic, t => t.Partitions.Count, StringComparer.Ordinal);

        var configs = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        var toDescribe = describe.Where(topics.ContainsKey).Distinct(StringComparer.Ordinal).ToList();
        if (toDescribe.Count > 0)
        {
            try
            {
                var results = await admin.DescribeConfigsAsync(
                    toDescribe.Select(t => new ConfigResource { Type = ResourceType.Topic, Name = t }),
                    new DescribeConfigsOptions { RequestTimeout = timeout });
                foreach (var result in results)
                {
                    configs[result.ConfigResource.Name] = result.Entries.Where(e => e.Value.Value is not null)
                        .ToDictionary(e => e.Key, e => e.Value.Value, StringComparer.Ordinal);
                }
            }
            catch (KafkaException)
            {
                // Not answered: the configs stay unknown (see the summary).
            }
        }

        return topics.ToDictionary(
            t => t.Key,
            t => new ObservedTopic(t.Key, t.Value, configs.GetValueOrDefault(t.Key)),
            StringComparer.Ordinal);
    }

    /// <summary>One message for all the problems, ending with the commands that fix them (<see cref="HowToFix"/>).</summary>
    public static string Describe(IReadOnlyList<TopicProblem> problems, string bootstrapServers) =>
        $"Kafka at {bootstrapServers} does not have the pipeline's topics as they must be: {string.Join("; ", problems.Select(p => p.Message))}. " +
        HowToFix(problems, bootstrapServers);

    /// <summary>
    /// What fixes <paramref name="problems"/>: <see cref="FixCommand"/> for the missing topics; for the wrong ones, which
    /// it never changes, Kafka's own tools, each command spelled out for its topic.
    /// </summary>
    public static string HowToFix(IReadOnlyList<TopicProblem> problems, string bootstrapServers)
    {
        var advice = new List<string>();
        var missing = problems.Where(p => p.Fix == TopicFix.Create).Select(p => $"'{p.Topic}'").Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            advice.Add($"Run '{FixCommand}' (docs/kafka.md) with the same Kafka settings to create {string.Join(", ", missing)}.");
        }

        string AddConfig(TopicProblem p, string config) => $"'kafka-configs --bootstrap-server {bootstrapServers} --alter --entity-type topics --entity-name {p.Topic} --add-config {config}'";
        var changes = problems.Where(p => p.Fix != TopicFix.Create).Select(p => p.Fix switch
        {
            TopicFix.RaisePartitions => $"'kafka-topics --bootstrap-server {bootstrapServers} --alter --topic {p.Topic} --partitions {Count(p.Partitions)}'",
            TopicFix.RaiseMaxMessageBytes => $"{AddConfig(p, $"max.message.bytes={p.MaxMessageBytes.ToString(CultureInfo.InvariantCulture)}")} (or a smaller {KafkaSettings.ProducerSection}:message.max.bytes)",
            TopicFix.Uncompact => AddConfig(p, "cleanup.policy=delete"),
            TopicFix.RaiseSegmentBytes => $"{AddConfig(p, $"segment.bytes={p.SegmentBytes.ToString(CultureInfo.InvariantCulture)}")} (or a smaller {KafkaSettings.ProducerSection}:message.max.bytes)",
            _ => AddConfig(p, "cleanup.policy=compact"),
        }).ToList();
        if (changes.Count > 0)
        {
            var partitionsNote = problems.Any(p => p.Fix == TopicFix.RaisePartitions)
                ? " (more partitions move keys to other partitions, and the changelog needs as many as the input)"
                : "";
            advice.Add($"'{FixCommand}' does not change existing topics: change them with Kafka's tools, {string.Join("; ", changes)}{partitionsNote}, " +
                $"or delete them and run '{FixCommand}' again (docs/kafka.md).");
        }

        return string.Join(" ", advice);
    }

    private static string Count(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A size config of a topic (<c>max.message.bytes</c>, <c>segment.bytes</c>); null when not described or not a number.</summary>
    private static long? Bytes(IReadOnlyDictionary<string, string>? configs, string name)
        => configs is not null && configs.TryGetValue(name, out var value) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes : null;

    /// <summary>What a compacted topic is called in a message, and what it holds that retention would expire.</summary>
    private static (string What, string Holds) Compacted(TopicRole role) => role switch
    {
        TopicRole.Changelog => ("changelog", "the processor's state"),
        TopicRole.StreamConfig => ("stream-config topic", "the per-stream filter settings"),
        TopicRole.Instances => ("instance directory", "the processor instances' addresses"),
        _ => ("topic", "its records"),
    };
}
