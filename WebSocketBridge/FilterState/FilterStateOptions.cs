using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace WebSocketBridge.FilterState;

/// <summary>
/// Settings of <c>GET /streams/{id}/filter</c> (the processor's view of a stream's filter, cached): bound from the same
/// <c>Bridge</c> section as <see cref="BridgeOptions"/> and validated at start. <c>PROCESSOR_URL</c> (the CLI's name for
/// the processor's address) sets <see cref="ProcessorUrl"/> and wins.
/// </summary>
public sealed class FilterStateOptions : IValidatableObject
{
    /// <summary>The configuration section (shared with <see cref="BridgeOptions"/>): settings are named <c>Bridge:...</c>.</summary>
    public const string SectionName = BridgeOptions.SectionName;

    /// <summary>The environment name of the processor's address, as the CLI's <c>streams show</c> reads it.</summary>
    public const string UrlVariable = "PROCESSOR_URL";

    /// <summary>The processor's base address (http or https); empty: the filter state is not available on this bridge.</summary>
    public string ProcessorUrl { get; set; } = "";

    /// <summary>How long one answer of the processor is served for a stream before it is asked again.</summary>
    [SettingRange(50, 60_000)]
    public int FilterStateCacheMilliseconds { get; set; } = 500;

    /// <summary>Longest wait for the processor's answer; then 503 (the processor waits up to 5 s for its stream thread).</summary>
    [SettingRange(100, 60_000)]
    public int FilterStateTimeoutMilliseconds { get; set; } = 2000;

    /// <summary>Most calls to the processor at once (one per stream: asks for a stream being fetched share the call); beyond: 503.</summary>
    [SettingRange(1, 1000)]
    public int MaxFilterStateCalls { get; set; } = 4;

    /// <summary>Most streams whose answer is held at once (answers expire after the cache time); beyond: 503.</summary>
    [SettingRange(1, 1_000_000)]
    public int MaxFilterStateStreams { get; set; } = 1000;

    /// <summary>Largest answer read from the processor (an rls/lms answer of order 64 is a few KB); beyond: 503.</summary>
    [SettingRange(1024, 16 * 1024 * 1024)]
    public int MaxFilterStateBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Requests one remote address may make per minute, after a burst of ten seconds' worth; beyond: 429. A page polls
    /// once a second per open panel, so the default leaves room for ten panels.
    /// </summary>
    [SettingRange(6, 600_000)]
    public int FilterStateRequestsPerAddressPerMinute { get; set; } = 600;

    public bool IsConfigured => ProcessorUrl.Length > 0;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IsConfigured && (!Uri.TryCreate(ProcessorUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult(
                $"Bridge:ProcessorUrl ({UrlVariable}) '{ProcessorUrl}' is not an absolute http(s) address; leave it empty to run without the filter state.",
                [nameof(ProcessorUrl)]);
        }
    }
}

/// <summary>The data annotations of <see cref="FilterStateOptions"/> and its <see cref="FilterStateOptions.Validate"/>, checked at start by generated code.</summary>
[OptionsValidator]
public sealed partial class FilterStateOptionsValidator : IValidateOptions<FilterStateOptions>;
