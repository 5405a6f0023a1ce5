using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;

namespace FilterProcessor;

/// <summary>Where the chunks are filtered: in this process, or by the algorithm services through the gateway.</summary>
public enum FilterMode
{
    Local,
    Remote,
}

/// <summary>
/// The processor's settings. The guide's flat names (<c>INPUT_TOPIC</c>, <c>FILTER_ALGORITHM</c>...) are read by
/// <see cref="FromConfiguration"/>; the tuning knobs live in the <c>Processor</c> section and the algorithm's
/// parameters in <c>Filter:Params</c>.
/// </summary>
public sealed class ProcessorOptions
{
    public const string ConsumerGroup = PipelineTopics.ProcessorGroup;
    public const string ProcessorSection = "Processor";
    public const string ParamsSection = "Filter:Params";

    public string InputTopic { get; set; } = PipelineTopics.DefaultInput;
    public string OutputTopic { get; set; } = PipelineTopics.DefaultOutput;
    public string DlqTopic { get; set; } = PipelineTopics.DefaultDeadLetters;
    public string ChangelogTopic { get; set; } = PipelineTopics.DefaultChangelog;
    public string StreamConfigTopic { get; set; } = PipelineTopics.DefaultStreamConfig;
    public string Algorithm { get; set; } = "kalman";
    public Dictionary<string, double> Params { get; set; } = [];
    public FilterMode Mode { get; set; } = FilterMode.Local;

    /// <summary>Base address of the gateway for remote mode (service discovery name by default).</summary>
    public string GatewayUrl { get; set; } = "http://filter-gateway";

    /// <summary>Most records consumed into one transaction.</summary>
    public int MaxBatchRecords { get; set; } = 2000;

    /// <summary>
    /// Most input bytes (record values) in one transaction. Bounds what the producer holds until the commit: with
    /// ~200 records of 64 KB per transaction each produced record cost 7x more (fresh memory for librdkafka's copies,
    /// page faults) and the throughput of a run settled at either ~9M or ~18M samples/s; 1 MiB keeps it at the latter.
    /// </summary>
    public int MaxBatchBytes { get; set; } = 1 << 20;

    /// <summary>Longest time spent collecting one transaction's records.</summary>
    public int MaxBatchMs { get; set; } = 20;

    /// <summary>
    /// How long a batch waits for another record once the consumer has nothing more fetched; 0 closes it at once, so a
    /// batch is what arrived during the previous commit (lowest latency; batches still grow with the load).
    /// </summary>
    public int LingerMs { get; set; }

    /// <summary>Out-of-order chunks held per stream while waiting for a missing seq; past this the gap is skipped.</summary>
    public int MaxHeldChunks { get; set; } = 32;

    /// <summary>Chunks larger than this many samples go to the DLQ (protects memory and the remote call size).</summary>
    public int MaxChunkSamples { get; set; } = 1_000_000;

    /// <summary>Seconds between the log lines that report throughput.</summary>
    public int RateLogSeconds { get; set; } = 10;

    /// <summary>A stream with no chunk for this long is evicted from memory and tombstoned in the changelog (0 = never).</summary>
    public int StreamIdleSeconds { get; set; } = 3600;

    /// <summary>Chunks held after a missing seq wait at most this long before the gap is skipped (0 = only <see cref="MaxHeldChunks"/>).</summary>
    public int HeldChunkTimeoutSeconds { get; set; } = 30;

    /// <summary>Most streams one instance holds; a chunk of a new stream beyond it is dead-lettered (<c>too-many-streams</c>).</summary>
    public int MaxStreams { get; set; } = 1_000_000;

    /// <summary>Failed attempts of the same batch (broker or transport failures) after which <c>/health</c> turns unhealthy.</summary>
    public int MaxBatchAttempts { get; set; } = 5;

    /// <summary>A partition with input read but nothing committed for this long turns <c>/health</c> unhealthy.</summary>
    public int StuckPartitionSeconds { get; set; } = 120;

    /// <summary>First pause after a failed batch; doubled per attempt up to <see cref="MaxRetryBackoffMs"/>.</summary>
    public int RetryBackoffMs { get; set; } = 100;

    public int MaxRetryBackoffMs { get; set; } = 10_000;

    /// <summary>A restore that reads nothing for this long is abandoned and retried (the partition waits meanwhile).</summary>
    public int RestoreStallSeconds { get; set; } = 30;

    /// <summary>
    /// A name stable across restarts of the same instance (the pod name on Kubernetes): the transactional id is
    /// <c>filter-kafka-processor-{InstanceId}</c>, so a restarted instance fences its previous incarnation at once and
    /// aborts the transaction it left open. Unset: a unique id per process (fencing then relies on the consumer group
    /// generation alone, and a crashed instance's open transaction lasts until the transaction timeout).
    /// </summary>
    public string? InstanceId { get; set; }

    /// <summary>
    /// For the dev broker only (librdkafka's mock cluster shows aborted and open transactions to read_committed
    /// readers): a restore scans the output for chunks an unfinished transaction left visible and does not write them
    /// again. Off for a real cluster, where it would cost a scan and change nothing. The AppHost sets it with the dev broker.
    /// </summary>
    public bool DevBrokerCompensation { get; set; }

    /// <summary>Reads the guide's variables, then the <c>Processor</c> and <c>Filter:Params</c> sections.</summary>
    public static void Bind(Microsoft.Extensions.Configuration.IConfiguration configuration, ProcessorOptions options)
    {
        options.InputTopic = configuration["INPUT_TOPIC"] ?? options.InputTopic;
        options.OutputTopic = configuration["OUTPUT_TOPIC"] ?? options.OutputTopic;
        options.DlqTopic = configuration["DLQ_TOPIC"] ?? options.DlqTopic;
        options.ChangelogTopic = configuration["CHANGELOG_TOPIC"] ?? options.ChangelogTopic;
        options.StreamConfigTopic = configuration[PipelineTopics.StreamConfigSetting] ?? options.StreamConfigTopic;
        options.Algorithm = (configuration["FILTER_ALGORITHM"] ?? options.Algorithm).Trim().ToLowerInvariant();
        options.GatewayUrl = configuration["FILTER_GATEWAY_URL"] ?? options.GatewayUrl;

        var mode = configuration["FILTER_MODE"];
        if (!string.IsNullOrWhiteSpace(mode))
        {
            options.Mode = Enum.TryParse<FilterMode>(mode.Trim(), ignoreCase: true, out var parsed) && Enum.IsDefined(parsed)
                ? parsed
                : throw new OptionsValidationException("FILTER_MODE", typeof(ProcessorOptions),
                    [$"FILTER_MODE '{mode}' is not valid: use 'local' or 'remote'."]);
        }

        var section = configuration.GetSection(ProcessorSection);
        options.MaxBatchRecords = ReadInt(section, nameof(MaxBatchRecords), options.MaxBatchRecords);
        options.MaxBatchBytes = ReadInt(section, nameof(MaxBatchBytes), options.MaxBatchBytes);
        options.MaxBatchMs = ReadInt(section, nameof(MaxBatchMs), options.MaxBatchMs);
        options.LingerMs = ReadInt(section, nameof(LingerMs), options.LingerMs);
        options.MaxHeldChunks = ReadInt(section, nameof(MaxHeldChunks), options.MaxHeldChunks);
        options.MaxChunkSamples = ReadInt(section, nameof(MaxChunkSamples), options.MaxChunkSamples);
        options.RateLogSeconds = ReadInt(section, nameof(RateLogSeconds), options.RateLogSeconds);
        options.StreamIdleSeconds = ReadInt(section, nameof(StreamIdleSeconds), options.StreamIdleSeconds);
        options.HeldChunkTimeoutSeconds = ReadInt(section, nameof(HeldChunkTimeoutSeconds), options.HeldChunkTimeoutSeconds);
        options.MaxStreams = ReadInt(section, nameof(MaxStreams), options.MaxStreams);
        options.MaxBatchAttempts = ReadInt(section, nameof(MaxBatchAttempts), options.MaxBatchAttempts);
        options.StuckPartitionSeconds = ReadInt(section, nameof(StuckPartitionSeconds), options.StuckPartitionSeconds);
        options.RetryBackoffMs = ReadInt(section, nameof(RetryBackoffMs), options.RetryBackoffMs);
        options.MaxRetryBackoffMs = ReadInt(section, nameof(MaxRetryBackoffMs), options.MaxRetryBackoffMs);
        options.RestoreStallSeconds = ReadInt(section, nameof(RestoreStallSeconds), options.RestoreStallSeconds);
        options.InstanceId = section[nameof(InstanceId)] is { Length: > 0 } instance ? instance.Trim() : options.InstanceId;
        if (section[nameof(DevBrokerCompensation)] is { } compensation)
        {
            options.DevBrokerCompensation = bool.TryParse(compensation, out var on)
                ? on
                : throw new OptionsValidationException($"{ProcessorSection}:{nameof(DevBrokerCompensation)}", typeof(ProcessorOptions),
                    [$"{ProcessorSection}:{nameof(DevBrokerCompensation)} = '{compensation}' is not true or false."]);
        }

        foreach (var parameter in configuration.GetSection(ParamsSection).GetChildren())
        {
            if (parameter.Value is null)
            {
                continue;
            }

            options.Params[parameter.Key] = double.TryParse(parameter.Value, System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                ? value
                : throw new OptionsValidationException($"{ParamsSection}:{parameter.Key}", typeof(ProcessorOptions),
                    [$"{ParamsSection}:{parameter.Key} = '{parameter.Value}' is not a finite number."]);
        }
    }

    private static int ReadInt(Microsoft.Extensions.Configuration.IConfigurationSection section, string key, int fallback)
    {
        var text = section[key];
        if (text is null)
        {
            return fallback;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new OptionsValidationException($"{ProcessorSection}:{key}", typeof(ProcessorOptions),
                [$"{ProcessorSection}:{key} = '{text}' is not an integer."]);
    }
}

/// <summary>Checks the settings at start so a bad one stops the service with a message naming it.</summary>
public sealed class ProcessorOptionsValidator : IValidateOptions<ProcessorOptions>
{
    public ValidateOptionsResult Validate(string? name, ProcessorOptions options)
    {
        var failures = new List<string>();
        Require(options.InputTopic, "INPUT_TOPIC");
        Require(options.OutputTopic, "OUTPUT_TOPIC");
        Require(options.DlqTopic, "DLQ_TOPIC");
        Require(options.ChangelogTopic, "CHANGELOG_TOPIC");
        Require(options.StreamConfigTopic, PipelineTopics.StreamConfigSetting);

        if (options.InputTopic == options.OutputTopic)
        {
            failures.Add($"INPUT_TOPIC and OUTPUT_TOPIC are both '{options.InputTopic}': the processor would read its own output.");
        }

        try
        {
            // Creating one filter checks the algorithm name and every parameter against its range.
            SignalPipeline.Filters.FilterFactory.Create(options.Algorithm, options.Params);
        }
        catch (SignalPipeline.Filters.UnknownAlgorithmException e)
        {
            failures.Add($"FILTER_ALGORITHM: {e.Message}");
        }
        catch (SignalPipeline.Filters.FilterParameterException e)
        {
            failures.Add($"{ProcessorOptions.ParamsSection}:{e.ParamName}: {e.Message}");
        }

        if (options.Mode == FilterMode.Remote && !Uri.TryCreate(options.GatewayUrl, UriKind.Absolute, out _))
        {
            failures.Add($"FILTER_GATEWAY_URL '{options.GatewayUrl}' is not an absolute URL (needed when FILTER_MODE=remote).");
        }

        Range(options.MaxBatchRecords, 1, 1_000_000, nameof(ProcessorOptions.MaxBatchRecords));
        Range(options.MaxBatchBytes, 1, int.MaxValue, nameof(ProcessorOptions.MaxBatchBytes));
        Range(options.MaxBatchMs, 1, 60_000, nameof(ProcessorOptions.MaxBatchMs));
        Range(options.LingerMs, 0, 60_000, nameof(ProcessorOptions.LingerMs));
        Range(options.MaxHeldChunks, 0, 100_000, nameof(ProcessorOptions.MaxHeldChunks));
        Range(options.MaxChunkSamples, 1, 100_000_000, nameof(ProcessorOptions.MaxChunkSamples));
        Range(options.RateLogSeconds, 0, 3600, nameof(ProcessorOptions.RateLogSeconds));
        Range(options.StreamIdleSeconds, 0, 30 * 86_400, nameof(ProcessorOptions.StreamIdleSeconds));
        Range(options.HeldChunkTimeoutSeconds, 0, 86_400, nameof(ProcessorOptions.HeldChunkTimeoutSeconds));
        Range(options.MaxStreams, 1, 100_000_000, nameof(ProcessorOptions.MaxStreams));
        Range(options.MaxBatchAttempts, 1, 1000, nameof(ProcessorOptions.MaxBatchAttempts));
        Range(options.StuckPartitionSeconds, 1, 86_400, nameof(ProcessorOptions.StuckPartitionSeconds));
        Range(options.RetryBackoffMs, 1, 60_000, nameof(ProcessorOptions.RetryBackoffMs));
        Range(options.MaxRetryBackoffMs, options.RetryBackoffMs, 600_000, nameof(ProcessorOptions.MaxRetryBackoffMs));
        Range(options.RestoreStallSeconds, 1, 3600, nameof(ProcessorOptions.RestoreStallSeconds));
        if (options.InstanceId is { } id && (id.Length > 200 || id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))))
        {
            failures.Add($"{ProcessorOptions.ProcessorSection}:InstanceId '{id}' must be up to 200 letters, digits, '-', '_' or '.'.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

        void Require(string value, string setting)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                failures.Add($"{setting} must not be empty.");
            }
        }

        void Range(int value, int min, int max, string key)
        {
            if (value < min || value > max)
            {
                failures.Add($"{ProcessorOptions.ProcessorSection}:{key} = {value} is out of range [{min}, {max}].");
            }
        }
    }
}
