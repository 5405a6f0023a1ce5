using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Directory;

/// <summary>
/// Settings of the instance directory and of answering for streams held elsewhere (docs/processor.md, "Which instance
/// answers"). Bound from the configuration root like <see cref="ProcessorOptions"/> (same keys style: the topic's flat
/// name, the knobs in the <c>Processor</c> section) and validated at start; every message names the setting.
/// </summary>
public sealed class InstanceDirectoryOptions : IValidatableObject
{
    public const string AdvertisedUrlSetting = $"{ProcessorOptions.ProcessorSection}:{nameof(AdvertisedUrl)}";

    [ConfigurationKeyName(PipelineTopics.InstancesSetting), SettingRequired]
    public string InstancesTopic { get; set; } = PipelineTopics.DefaultInstances;

    /// <summary>
    /// The base URL other instances reach this one at. Unset: the address Kestrel bound, its host replaced by
    /// <c>POD_IP</c> (Kubernetes) or the host name when it is a wildcard (<c>http://+:8080</c>, <c>http://[::]:8080</c>).
    /// </summary>
    [ConfigurationKeyName(AdvertisedUrlSetting)]
    public string? AdvertisedUrl { get; set; }

    /// <summary>How often an instance announces itself (and at once when its partitions change).</summary>
    [ConfigurationKeyName($"{ProcessorOptions.ProcessorSection}:{nameof(DirectoryHeartbeatSeconds)}"), SettingRange(1, 300)]
    public int DirectoryHeartbeatSeconds { get; set; } = 5;

    /// <summary>Longest wait for another instance's answer about a stream; past it that instance counts as unreachable.</summary>
    [ConfigurationKeyName($"{ProcessorOptions.ProcessorSection}:{nameof(StreamLookupTimeoutMs)}"), SettingRange(100, 60_000)]
    public int StreamLookupTimeoutMs { get; set; } = 2000;

    /// <summary>Lookups of streams held elsewhere running at once on this instance; more get 503 at once.</summary>
    [ConfigurationKeyName($"{ProcessorOptions.ProcessorSection}:{nameof(MaxStreamLookups)}"), SettingRange(1, 10_000)]
    public int MaxStreamLookups { get; set; } = 32;

    /// <summary>An announcement older than this many heartbeats is treated as gone (its instance crashed or hangs).</summary>
    public const int ExpiryHeartbeats = 3;

    public TimeSpan Heartbeat => TimeSpan.FromSeconds(DirectoryHeartbeatSeconds);

    public TimeSpan Expiry => Heartbeat * ExpiryHeartbeats;

    /// <summary>
    /// The other pipeline topics as configured (set at binding, <see cref="InstanceDirectoryOptionsExtensions.AddInstanceDirectoryOptions"/>):
    /// the directory's topic must be none of them, as <see cref="ProcessorOptions"/> checks its own topics against each other.
    /// </summary>
    internal List<(string Setting, string Topic)> OtherTopics { get; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // The other topics against each other are ProcessorOptions' to report: only the directory's against them here.
        foreach (var shared in ProcessorOptions.SharedTopics([.. OtherTopics, (PipelineTopics.InstancesSetting, InstancesTopic)], from: OtherTopics.Count))
        {
            yield return new(shared);
        }

        if (AdvertisedUrl is { Length: > 0 } url && !AdvertisedAddress.IsHttpUrl(url))
        {
            yield return new($"{AdvertisedUrlSetting} '{url}' is not an absolute http(s) URL (e.g. http://10.0.0.7:8080).");
        }
    }
}

/// <summary>The data annotations of <see cref="InstanceDirectoryOptions"/> and its <see cref="InstanceDirectoryOptions.Validate"/>.</summary>
[OptionsValidator]
public sealed partial class InstanceDirectoryOptionsValidator : IValidateOptions<InstanceDirectoryOptions>
{
}

public static class InstanceDirectoryOptionsExtensions
{
    public static OptionsBuilder<InstanceDirectoryOptions> AddInstanceDirectoryOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IValidateOptions<InstanceDirectoryOptions>, InstanceDirectoryOptionsValidator>();
        return services.AddOptions<InstanceDirectoryOptions>()
            .Bind(configuration)
            .PostConfigure(options => options.OtherTopics.AddRange(PipelineTopics.All
                .Where(t => t.Role != TopicRole.Instances)
                .Select(t => (t.Setting, t.NameIn(configuration)))))
            .ValidateOnStart();
    }
}
