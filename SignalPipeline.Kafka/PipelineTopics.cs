using System.Collections.Frozen;
using Microsoft.Extensions.Configuration;

namespace SignalPipeline.Kafka;

/// <summary>What a topic is for; decides its cleanup policy and its partition count relative to the input.</summary>
public enum TopicRole
{
    /// <summary>Raw chunks (<c>INPUT_TOPIC</c>): its partition count bounds the processor's parallelism.</summary>
    Input,

    /// <summary>Filtered chunks (<c>OUTPUT_TOPIC</c>).</summary>
    Output,

    /// <summary>Dead letters with their reason headers (<c>DLQ_TOPIC</c>).</summary>
    DeadLetters,

    /// <summary>The processor's state: compacted, co-partitioned with the input (<c>CHANGELOG_TOPIC</c>).</summary>
    Changelog,

    /// <summary>Per-stream filter configuration (<c>STREAM_CONFIG_TOPIC</c>): compacted, key = stream id.</summary>
    StreamConfig,

    /// <summary>The processor's instance directory (<c>INSTANCES_TOPIC</c>): compacted, key = instance id.</summary>
    Instances,
}

/// <summary>
/// One pipeline topic: its default name, the setting that renames it, and the topic configs it is created with.
/// </summary>
/// <param name="Name">The default name (the guide's).</param>
/// <param name="Setting">The configuration key that overrides the name, e.g. <c>INPUT_TOPIC</c>.</param>
/// <param name="Role">What the topic is for.</param>
/// <param name="Configs">Topic-level configs (<c>kafka-topics --config</c>), applied at creation and checked by <c>kafka topics check</c>.</param>
public sealed record TopicDefinition(string Name, string Setting, TopicRole Role, IReadOnlyDictionary<string, string> Configs)
{
    /// <summary>True for the compacted topics (changelog, stream config, instance directory): they must stay compacted.</summary>
    public bool IsCompacted => Configs.TryGetValue("cleanup.policy", out var policy) && policy.Contains("compact", StringComparison.Ordinal);

    /// <summary>The topic's name in <paramref name="configuration"/>: its <see cref="Setting"/> when set, else <see cref="Name"/>.</summary>
    public string NameIn(IConfiguration configuration) => configuration[Setting] is { Length: > 0 } name ? name : Name;
}

/// <summary>
/// The pipeline's topics, defined once: the dev broker, <c>signal-pipeline kafka topics ensure</c>, the Kubernetes topics
/// Job and the compose output all create these, and the services default to these names.
/// </summary>
public static class PipelineTopics
{
    public const string InputSetting = "INPUT_TOPIC";
    public const string OutputSetting = "OUTPUT_TOPIC";
    public const string DeadLetterSetting = "DLQ_TOPIC";
    public const string ChangelogSetting = "CHANGELOG_TOPIC";
    public const string StreamConfigSetting = "STREAM_CONFIG_TOPIC";
    public const string InstancesSetting = "INSTANCES_TOPIC";

    public const string DefaultInput = "sample-input";
    public const string DefaultOutput = "sample-output";
    public const string DefaultDeadLetters = "sample-dlq";
    public const string DefaultChangelog = "filter-kafka-processor-state-changelog";
    public const string DefaultStreamConfig = "stream-config";
    public const string DefaultInstances = "filter-kafka-processor-instances";

    /// <summary>The processor's consumer group (also the prefix of its transactional ids and of the changelog's name).</summary>
    public const string ProcessorGroup = "filter-kafka-processor";

    /// <summary>Seven days: input and output are a stream, not a store; a consumer down longer than this loses data.</summary>
    public const string StreamRetentionMs = "604800000";

    /// <summary>
    /// The changelog's compaction timing, chosen so a restore reads little more than one record per live stream:
    /// segments roll every 10 minutes (only closed segments are compacted), a segment is cleaned once 10 % of it is
    /// superseded, and no superseded checkpoint survives longer than an hour. Tombstones of evicted streams stay a day,
    /// longer than any restore takes, so a restoring instance never sees a stream come back.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> ChangelogConfigs = new Dictionary<string, string>
    {
        ["cleanup.policy"] = "compact",
        ["segment.ms"] = "600000",
        ["min.cleanable.dirty.ratio"] = "0.1",
        ["max.compaction.lag.ms"] = "3600000",
        ["delete.retention.ms"] = "86400000",
    }.ToFrozenDictionary();

    public static readonly TopicDefinition Input = new(DefaultInput, InputSetting, TopicRole.Input,
        new Dictionary<string, string> { ["cleanup.policy"] = "delete", ["retention.ms"] = StreamRetentionMs }.ToFrozenDictionary());

    public static readonly TopicDefinition Output = new(DefaultOutput, OutputSetting, TopicRole.Output,
        new Dictionary<string, string> { ["cleanup.policy"] = "delete", ["retention.ms"] = StreamRetentionMs }.ToFrozenDictionary());

    /// <summary>Dead letters are kept twice as long as the stream, so there is time to fix the cause and replay them.</summary>
    public static readonly TopicDefinition DeadLetters = new(DefaultDeadLetters, DeadLetterSetting, TopicRole.DeadLetters,
        new Dictionary<string, string> { ["cleanup.policy"] = "delete", ["retention.ms"] = "1209600000" }.ToFrozenDictionary());

    public static readonly TopicDefinition Changelog = new(DefaultChangelog, ChangelogSetting, TopicRole.Changelog, ChangelogConfigs);

    /// <summary>
    /// Each stream's algorithm and parameters (docs/messages.md, "Stream configuration"): compacted like the changelog,
    /// so the latest entry of every stream survives; every processor instance reads all of it.
    /// </summary>
    public static readonly TopicDefinition StreamConfig = new(DefaultStreamConfig, StreamConfigSetting, TopicRole.StreamConfig, ChangelogConfigs);

    /// <summary>
    /// Which processor instance serves which input partitions at which HTTP address (docs/processor.md, "Which instance
    /// answers"): compacted, so a starting instance reads one record per live instance; a removed instance's tombstone
    /// is kept an hour, longer than any reader takes to read the topic.
    /// </summary>
    public static readonly TopicDefinition Instances = new(DefaultInstances, InstancesSetting, TopicRole.Instances,
        new Dictionary<string, string>
        {
            ["cleanup.policy"] = "compact",
            ["segment.ms"] = "600000",
            ["min.cleanable.dirty.ratio"] = "0.1",
            ["max.compaction.lag.ms"] = "3600000",
            ["delete.retention.ms"] = "3600000",
        }.ToFrozenDictionary());

    /// <summary>Every pipeline topic, input first.</summary>
    public static readonly IReadOnlyList<TopicDefinition> All = [Input, Output, DeadLetters, Changelog, StreamConfig, Instances];
}
