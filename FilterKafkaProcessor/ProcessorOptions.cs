using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using SignalPipeline.Filters;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor;

/// <summary>Where the chunks are filtered: in this process, or by the algorithm services through the gateway.</summary>
public enum FilterMode
{
    Local,
    Remote,
}

/// <summary>
/// The processor's settings, bound from the configuration root by <see cref="ProcessorOptionsExtensions.AddProcessorOptions"/>:
/// each property's <see cref="ConfigurationKeyNameAttribute"/> is where it is set, the guide's flat names
/// (<c>INPUT_TOPIC</c>, <c>FILTER_ALGORITHM</c>...), the tuning knobs in the <c>Processor</c> section and the algorithm's
/// parameters in <c>Filter:Params</c>. Validated at start by data annotations (<see cref="ProcessorOptionsValidator"/>,
/// generated) and <see cref="Validate"/> for the checks that span settings; every message names the setting.
/// </summary>
public sealed class ProcessorOptions : IValidatableObject
{
    public const string ConsumerGroup = PipelineTopics.ProcessorGroup;
    public const string ProcessorSection = "Processor";
    public const string ParamsSection = "Filter:Params";
    public const string AlgorithmSetting = "FILTER_ALGORITHM";
    public const string ModeSetting = "FILTER_MODE";
    public const string GatewayUrlSetting = "FILTER_GATEWAY_URL";

    [ConfigurationKeyName(PipelineTopics.InputSetting), SettingRequired]
    public string InputTopic { get; set; } = PipelineTopics.DefaultInput;

    [ConfigurationKeyName(PipelineTopics.OutputSetting), SettingRequired]
    public string OutputTopic { get; set; } = PipelineTopics.DefaultOutput;

    [ConfigurationKeyName(PipelineTopics.DeadLetterSetting), SettingRequired]
    public string DlqTopic { get; set; } = PipelineTopics.DefaultDeadLetters;

    [ConfigurationKeyName(PipelineTopics.ChangelogSetting), SettingRequired]
    public string ChangelogTopic { get; set; } = PipelineTopics.DefaultChangelog;

    [ConfigurationKeyName(PipelineTopics.StreamConfigSetting), SettingRequired]
    public string StreamConfigTopic { get; set; } = PipelineTopics.DefaultStreamConfig;

    /// <summary>The algorithm name, stored trimmed and lower case (it appears in URLs, metrics and records).</summary>
    [ConfigurationKeyName(AlgorithmSetting)]
    public string Algorithm { get => _algorithm; set => _algorithm = (value ?? "").Trim().ToLowerInvariant(); }

    private string _algorithm = "kalman";

    [ConfigurationKeyName(ParamsSection)]
    public Dictionary<string, double> Params { get; set; } = [];

    [ConfigurationKeyName(ModeSetting)]
    public FilterMode Mode { get; set; } = FilterMode.Local;

    /// <summary>Base address of the gateway for remote mode (service discovery name by default).</summary>
    [ConfigurationKeyName(GatewayUrlSetting)]
    public string GatewayUrl { get; set; } = "http://filter-gateway";

    /// <summary>
    /// Most records consumed into one transaction. Fewer means more transactions for small records: at 1000 the state
    /// bench's million 4-sample streams loaded in 32 s against 22 s and restored in 9.4 s against 5.1 s (more
    /// transaction batches in the changelog for the dev broker to scan).
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxBatchRecords)}"), SettingRange(1, 1_000_000)]
    public int MaxBatchRecords { get; set; } = 2000;

    /// <summary>
    /// Most input bytes in one transaction: record keys, values and headers (a record can carry up to the broker's message
    /// limit in its headers or key, so counting values only let one producer make a batch of 2000 such records). Bounds what the producer holds until the commit: with
    /// ~200 records of 64 KB per transaction each produced record cost 7x more (fresh memory for librdkafka's copies,
    /// page faults) and the throughput of a run settled at either ~9M or ~18M samples/s (2026-11-29, 1 MiB fixed it).
    /// Measured again on 2026-11-30 (docs/benchmarks.md, "Larger transactions"): larger transactions moved more JSON
    /// and 4096-sample chunks, but 2000 binary 256-sample records a transaction (4 MiB) cost 20 µs of processor CPU a
    /// record against 14-17 µs at 500-1000; 2 MiB keeps those at about 1000.
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxBatchBytes)}"), SettingRange(1, int.MaxValue)]
    public int MaxBatchBytes { get; set; } = 2 << 20;

    /// <summary>Longest time spent collecting one transaction's records.</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxBatchMs)}"), SettingRange(1, 60_000)]
    public int MaxBatchMs { get; set; } = 20;

    /// <summary>
    /// How long a batch waits for another record once the consumer has nothing more fetched; 0 closes it at once, so a
    /// batch is what arrived during the previous commit (lowest latency; batches still grow with the load).
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(LingerMs)}"), SettingRange(0, 60_000)]
    public int LingerMs { get; set; }

    /// <summary>
    /// Threads that decode and encode a batch's records beside the stream thread (1 = the stream thread alone, the
    /// default; 0 = one per CPU the runtime sees). Only batches whose codec work pays for the hand-off use them (JSON).
    /// Off by default: on the 2-core bench machine it cost 10-20 % more CPU per record for no measurable gain (docs/benchmarks.md).
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(CodecThreads)}"), SettingRange(0, 64)]
    public int CodecThreads { get; set; } = 1;

    /// <summary>Out-of-order chunks held per stream while waiting for a missing seq; past this the gap is skipped.</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxHeldChunks)}"), SettingRange(0, 100_000)]
    public int MaxHeldChunks { get; set; } = 32;

    /// <summary>Chunks larger than this many samples go to the DLQ (protects memory and the remote call size).</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxChunkSamples)}"), SettingRange(1, 100_000_000)]
    public int MaxChunkSamples { get; set; } = 1_000_000;

    /// <summary>Seconds between the log lines that report throughput.</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(RateLogSeconds)}"), SettingRange(0, 3600)]
    public int RateLogSeconds { get; set; } = 10;

    /// <summary>A stream with no chunk for this long is evicted from memory and tombstoned in the changelog (0 = never).</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(StreamIdleSeconds)}"), SettingRange(0, 30 * 86_400)]
    public int StreamIdleSeconds { get; set; } = 3600;

    /// <summary>
    /// Bytes of held chunks (values and headers) one instance keeps, all its streams together (each stream also keeps at
    /// most <c>message.max.bytes</c> − 64 KiB): a chunk that would take the instance past it has its stream's gap skipped
    /// at once, as the per-stream bounds do. Held chunks live in the checkpoints and come back with a restore, so this
    /// bounds what a restart reloads too.
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxHeldBytes)}"), SettingRange(1_048_576, 1L << 40)]
    public long MaxHeldBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Chunks held after a missing seq wait at most this long before the gap is skipped (0 = only <see cref="MaxHeldChunks"/>).</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(HeldChunkTimeoutSeconds)}"), SettingRange(0, 86_400)]
    public int HeldChunkTimeoutSeconds { get; set; } = 30;

    /// <summary>Most streams one instance holds; a chunk of a new stream beyond it is dead-lettered (<c>too-many-streams</c>).</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxStreams)}"), SettingRange(1, 100_000_000)]
    public int MaxStreams { get; set; } = 1_000_000;

    /// <summary>
    /// What the streams of one instance take in memory, about (<see cref="State.StreamState.Bytes"/>: ids and filter
    /// states; held chunks count in <see cref="MaxHeldBytes"/>): a chunk of a new stream that would take the instance past
    /// it is dead-lettered (<c>too-many-streams</c>), as past <see cref="MaxStreams"/>; a restore leaves out the least
    /// recently written streams to stay within it. Bounds what long stream ids and large states cost, which the count
    /// does not.
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxStreamBytes)}"), SettingRange(1_048_576, 1L << 40)]
    public long MaxStreamBytes { get; set; } = 384L * 1024 * 1024;

    /// <summary>
    /// Most entries of the stream-config topic one instance holds (every instance holds every entry it keeps: about
    /// 0.6-0.7 KB each at a typical config, about 5.2 KB at most: docs/processor.md, "Limits"): while it holds this many, a
    /// record of a stream that has no entry is not kept (counted, logged) and that stream runs the deployment default;
    /// updates of held entries and tombstones are always applied. Bounds what whoever writes the topic can make every
    /// instance hold.
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxStreamConfigs)}"), SettingRange(1, 10_000_000)]
    public int MaxStreamConfigs { get; set; } = 10_000;

    /// <summary>Failed attempts of the same batch (broker or transport failures) after which <c>/health</c> turns unhealthy.</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxBatchAttempts)}"), SettingRange(1, 1000)]
    public int MaxBatchAttempts { get; set; } = 5;

    /// <summary>A partition with input read but nothing committed for this long turns <c>/health</c> unhealthy.</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(StuckPartitionSeconds)}"), SettingRange(1, 86_400)]
    public int StuckPartitionSeconds { get; set; } = 120;

    /// <summary>First pause after a failed batch; doubled per attempt up to <see cref="MaxRetryBackoffMs"/>.</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(RetryBackoffMs)}"), SettingRange(1, 60_000)]
    public int RetryBackoffMs { get; set; } = 100;

    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxRetryBackoffMs)}"), SettingRange(1, 600_000)]
    public int MaxRetryBackoffMs { get; set; } = 10_000;

    /// <summary>A restore that reads nothing for this long is abandoned and retried (the partition waits meanwhile).</summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(RestoreStallSeconds)}"), SettingRange(1, 3600)]
    public int RestoreStallSeconds { get; set; } = 30;

    /// <summary>
    /// Most open connections to the processor's HTTP endpoints (<c>/streams</c>, <c>/health</c>, <c>/alive</c>; Kestrel's
    /// <c>MaxConcurrentConnections</c>); a connection beyond it is closed as soon as it is accepted, with no response, and
    /// counted in <c>kestrel.rejected_connections</c>. Its callers: the other instances' stream lookups (each instance runs at
    /// most <c>Processor:MaxStreamLookups</c>, 32, at once, and keeps their connections pooled), so 19 peers at the HPA's
    /// 20 replicas may hold 608; the bridges (4 calls each); the kubelet's probes. Each connection can make the processor
    /// hold its headers (Kestrel's 32 KiB, about 85 KB in memory) and <see cref="MaxHttpReadAheadBytes"/>: ~150 MB at most.
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxHttpConnections)}"), SettingRange(1, 1_000_000)]
    public int MaxHttpConnections { get; set; } = 1024;

    /// <summary>
    /// Most bytes Kestrel reads ahead of the processor on one HTTP connection (the socket transport's
    /// <c>MaxReadBufferSize</c>, 1 MiB by its default): pipelined requests are read only this far, then TCP holds the
    /// rest. Above Kestrel's 32 KiB request-header limit (a header line must fit).
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(MaxHttpReadAheadBytes)}"), SettingRange(48 * 1024, 64 * 1024 * 1024)]
    public int MaxHttpReadAheadBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// A name stable across restarts of the same instance (the pod name on Kubernetes): the transactional id is
    /// <c>filter-kafka-processor-{InstanceId}</c>, so a restarted instance fences its previous incarnation at once and
    /// aborts the transaction it left open. Unset: a unique id per process (fencing then relies on the consumer group
    /// generation alone, and a crashed instance's open transaction lasts until the transaction timeout).
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(InstanceId)}")]
    public string? InstanceId { get => _instanceId; set => _instanceId = string.IsNullOrWhiteSpace(value) ? null : value.Trim(); }

    private string? _instanceId;

    /// <summary>
    /// For the dev broker only (librdkafka's mock cluster shows aborted and open transactions to read_committed
    /// readers): a restore scans the output for chunks an unfinished transaction left visible and does not write them
    /// again. Off for a real cluster, where it would cost a scan and change nothing. The AppHost sets it with the dev broker.
    /// </summary>
    [ConfigurationKeyName($"{ProcessorSection}:{nameof(DevBrokerCompensation)}")]
    public bool DevBrokerCompensation { get; set; }

    /// <summary>
    /// The topics the processor writes (output, dead letters, changelog), each of which must take records of
    /// <paramref name="writes"/> bytes, its producer's <c>message.max.bytes</c>: checked at start and again when the
    /// broker refuses a record for what its topic takes (docs/processor.md, "Topics changed while running").
    /// </summary>
    public IReadOnlyList<TopicRequirement> WrittenTopics(long writes) =>
        [new(PipelineTopics.Output, OutputTopic, writes), new(PipelineTopics.DeadLetters, DlqTopic, writes), new(PipelineTopics.Changelog, ChangelogTopic, writes)];

    /// <summary>
    /// <c>Filter:Params</c> entries that are not numbers: the binder skips a dictionary value it cannot convert, so they are
    /// collected at binding (<see cref="ProcessorOptionsExtensions.AddProcessorOptions"/>) and refused by <see cref="Validate"/>.
    /// </summary>
    internal List<string> UnreadableParams { get; } = [];

    /// <summary>The checks that span settings (the single-setting ones are the properties' attributes).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var unreadable in UnreadableParams)
        {
            yield return new(unreadable);
        }

        foreach (var shared in SharedTopics([(PipelineTopics.InputSetting, InputTopic), (PipelineTopics.OutputSetting, OutputTopic),
            (PipelineTopics.DeadLetterSetting, DlqTopic), (PipelineTopics.ChangelogSetting, ChangelogTopic), (PipelineTopics.StreamConfigSetting, StreamConfigTopic)]))
        {
            yield return new(shared);
        }

        if (!Enum.IsDefined(Mode))
        {
            yield return new($"{ModeSetting} '{Mode}' is not valid: use 'local' or 'remote'.");
        }

        string? filterError = null;
        try
        {
            // Creating one filter checks the algorithm name and every parameter against its range.
            FilterFactory.Create(Algorithm, Params);
        }
        catch (UnknownAlgorithmException e)
        {
            filterError = $"{AlgorithmSetting}: {e.Message}";
        }
        catch (FilterParameterException e)
        {
            filterError = $"{ParamsSection}:{e.ParamName}: {e.Message}";
        }

        if (filterError is not null)
        {
            yield return new(filterError);
        }

        // An absolute http(s) URL with a host: Uri alone takes '/gw' for an absolute file:///gw on Linux.
        if (Mode == FilterMode.Remote && !Directory.AdvertisedAddress.IsHttpUrl(GatewayUrl))
        {
            yield return new($"{GatewayUrlSetting} '{GatewayUrl}' is not an absolute http(s) URL (e.g. http://filter-gateway:8000; needed when {ModeSetting}=remote).");
        }

        if (MaxRetryBackoffMs < RetryBackoffMs)
        {
            yield return new($"{ProcessorSection}:{nameof(MaxRetryBackoffMs)} = {MaxRetryBackoffMs} is out of range [{RetryBackoffMs}, 600000]: at least {ProcessorSection}:{nameof(RetryBackoffMs)}.");
        }

        if (InstanceId is { } id && (id.Length > 200 || id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))))
        {
            yield return new($"{ProcessorSection}:{nameof(InstanceId)} '{id}' must be up to 200 letters, digits, '-', '_' or '.'.");
        }
    }

    /// <summary>
    /// The rule that each of the processor's topic settings names a topic of its own, for this class (its five topics) and
    /// <see cref="Directory.InstanceDirectoryOptions"/> (<c>INSTANCES_TOPIC</c> against those five): each topic has one kind
    /// of record, and one topic in two roles makes the processor read its own output or dead letters as input (again and
    /// again), restore outputs and stream configs as checkpoints, or read announcements as either. Names are
    /// case-sensitive. A message for each two settings naming the same topic, in list order; only pairs whose second
    /// setting is at <paramref name="from"/> or later, so that a caller checking one more setting against settings checked
    /// elsewhere reports that setting's conflicts and not theirs again.
    /// </summary>
    internal static IEnumerable<string> SharedTopics(IReadOnlyList<(string Setting, string Topic)> topics, int from = 0)
    {
        for (var i = 0; i < topics.Count; i++)
        {
            for (var j = Math.Max(i + 1, from); j < topics.Count; j++)
            {
                if (topics[i].Topic == topics[j].Topic)
                {
                    var ownOutput = topics[i].Setting == PipelineTopics.InputSetting && topics[j].Setting == PipelineTopics.OutputSetting;
                    yield return $"{topics[i].Setting} and {topics[j].Setting} are both '{topics[i].Topic}': each of the processor's topics must be a topic of its own"
                        + (ownOutput ? " (the processor would read its own output)." : ".");
                }
            }
        }
    }
}

/// <summary>The data annotations of <see cref="ProcessorOptions"/> and its <see cref="ProcessorOptions.Validate"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class ProcessorOptionsValidator : IValidateOptions<ProcessorOptions>
{
}

public static class ProcessorOptionsExtensions
{
    /// <summary>
    /// Binds <see cref="ProcessorOptions"/> from the configuration root (the names are the properties' configuration keys)
    /// and validates them at start. A value that cannot be converted (<c>Processor:LingerMs=soon</c>) stops the start with
    /// the binder's message naming the key; an out-of-range one with the validator's.
    /// </summary>
    public static OptionsBuilder<ProcessorOptions> AddProcessorOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IValidateOptions<ProcessorOptions>, ProcessorOptionsValidator>();
        return services.AddOptions<ProcessorOptions>()
            .Bind(configuration)
            .PostConfigure(options => FindUnreadableParams(configuration, options))
            .ValidateOnStart();
    }

    /// <summary>
    /// Bounds what the HTTP endpoints' clients can make the processor hold: <see cref="ProcessorOptions.MaxHttpConnections"/>
    /// connections, each read at most <see cref="ProcessorOptions.MaxHttpReadAheadBytes"/> ahead.
    /// </summary>
    public static IServiceCollection AddProcessorHttpLimits(this IServiceCollection services)
    {
        services.AddKestrelReadAhead<ProcessorOptions>(options => options.MaxHttpReadAheadBytes);
        services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>()
            .Configure<IOptions<ProcessorOptions>>((kestrel, options) => kestrel.Limits.MaxConcurrentConnections = options.Value.MaxHttpConnections);
        return services;
    }

    private static void FindUnreadableParams(IConfiguration configuration, ProcessorOptions options)
    {
        foreach (var parameter in configuration.GetSection(ProcessorOptions.ParamsSection).GetChildren())
        {
            if (parameter.Value is { } text && !double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                options.UnreadableParams.Add($"{ProcessorOptions.ParamsSection}:{parameter.Key} = '{text}' is not a number.");
            }
        }
    }
}
