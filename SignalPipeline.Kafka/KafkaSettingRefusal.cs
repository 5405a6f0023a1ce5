using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace SignalPipeline.Kafka;

/// <summary>
/// librdkafka refuses an unknown property or a bad value when a client is built (Confluent.Kafka throws
/// <see cref="InvalidOperationException"/> or <see cref="ArgumentException"/> naming <c>configuration property "name"</c>).
/// When the property came from a <c>Kafka__Client__*</c>, <c>Kafka__Producer__*</c> or <c>Kafka__Consumer__*</c> setting,
/// that is bad input: a CLI verb stops with exit 2, a service at start (<see cref="KafkaClientSettingsCheck"/>), each with a
/// message naming the setting, not a stack trace.
/// </summary>
public static partial class KafkaSettingRefusal
{
    private static readonly string[] Sections = ["Kafka:Client", "Kafka:Producer", "Kafka:Consumer"];

    /// <summary>One line naming the setting and librdkafka's reason; null when <paramref name="exception"/> is not such a refusal.</summary>
    public static string? Describe(Exception exception, IConfiguration configuration)
    {
        if (exception is not (ArgumentException or InvalidOperationException))
        {
            return null;
        }

        var settings = PropertyName().Match(exception.Message) is { Success: true } match
            ? Configured(configuration, Named(match.Groups["name"].Value))
            : CombinationSettings(exception.Message, configuration);
        return settings.Count == 0
            ? null
            : $"{string.Join(" or ", settings)}: {exception.Message} (librdkafka's properties and values: https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md).";
    }

    // librdkafka names a property set through an alias by its own name: acks=abc is refused as "request.required.acks".
    private static string[] Named(string property) => Aliases.TryGetValue(property, out var alias) ? [property, alias] : [property];

    /// <summary>
    /// The settings behind a refusal of values that do not go together (the security settings, mostly), which librdkafka
    /// words without "configuration property": <c>ssl.ca.location failed: ...</c>, <c>sasl.username and sasl.password
    /// must be set</c>, <c>No provider for SASL mechanism GSSAPI</c>. The configured properties the text names; if it names
    /// none that is configured, for a SASL refusal the settings that asked for SASL (GSSAPI is librdkafka's default
    /// mechanism, so <c>security.protocol=SASL_SSL</c> alone asks for it).
    /// </summary>
    private static List<string> CombinationSettings(string message, IConfiguration configuration)
    {
        var mentioned = Sections
            .SelectMany(section => configuration.GetSection(section).GetChildren().Select(c => c.Key))
            .Where(key => Regex.IsMatch(message, $@"(?<![\w.]){Regex.Escape(key)}(?![\w.])", RegexOptions.IgnoreCase))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToArray();
        if (mentioned.Length == 0 && message.Contains("sasl", StringComparison.OrdinalIgnoreCase))
        {
            mentioned = ["security.protocol", "sasl.mechanism", "sasl.mechanisms"];
        }

        return Configured(configuration, mentioned);
    }

    /// <summary>Each of <paramref name="names"/> set in a section, as written (<c>Kafka__Client__security.protocol</c>).</summary>
    private static List<string> Configured(IConfiguration configuration, string[] names)
        => Sections
            .SelectMany(section => configuration.GetSection(section).GetChildren()
                .Where(c => names.Contains(c.Key, StringComparer.OrdinalIgnoreCase))
                .Select(c => $"{section.Replace(":", "__", StringComparison.Ordinal)}__{c.Key}"))
            .ToList();

    /// <summary>librdkafka's aliases (2.16.0, CONFIGURATION.md), by the name its errors use.</summary>
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["metadata.broker.list"] = "bootstrap.servers",
        ["max.in.flight.requests.per.connection"] = "max.in.flight",
        ["sasl.mechanisms"] = "sasl.mechanism",
        ["sasl.oauthbearer.client.id"] = "sasl.oauthbearer.client.credentials.client.id",
        ["sasl.oauthbearer.client.secret"] = "sasl.oauthbearer.client.credentials.client.secret",
        ["fetch.message.max.bytes"] = "max.partition.fetch.bytes",
        ["queue.buffering.max.ms"] = "linger.ms",
        ["message.send.max.retries"] = "retries",
        ["compression.codec"] = "compression.type",
        ["request.required.acks"] = "acks",
        ["message.timeout.ms"] = "delivery.timeout.ms",
        ["auto.commit.enable"] = "enable.auto.commit",
    };

    [GeneratedRegex("configuration property:? \"(?<name>[^\"]+)\"")]
    private static partial Regex PropertyName();
}
