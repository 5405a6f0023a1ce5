using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace SignalPipeline.Kafka;

/// <summary>
/// librdkafka refuses an unknown property or a bad value when a client is built (Confluent.Kafka throws
/// <see cref="InvalidOperationException"/> or <see cref="ArgumentException"/> naming <c>configuration property "name"</c>).
/// When the property came from a <c>Kafka__Client__*</c>, <c>Kafka__Producer__*</c> or <c>Kafka__Consumer__*</c> setting,
/// that is bad input: a CLI verb stops with exit 2, a service at start (<see cref="KafkaClientFactory.CheckSettings"/>), each with a
/// message naming the setting, not a stack trace.
/// </summary>
public static partial class KafkaSettingRefusal
{
    private static readonly string[] Sections = ["Kafka:Client", "Kafka:Producer", "Kafka:Consumer"];

    /// <summary>One line naming the setting and librdkafka's reason; null when <paramref name="exception"/> is not such a refusal.</summary>
    public static string? Describe(Exception exception, IConfiguration configuration)
    {
        if (exception is not (ArgumentException or InvalidOperationException) || PropertyName().Match(exception.Message) is not { Success: true } match)
        {
            return null;
        }

        var property = match.Groups["name"].Value;
        var settings = Sections
            .Where(section => configuration.GetSection(section).GetChildren().Any(c => string.Equals(c.Key, property, StringComparison.OrdinalIgnoreCase)))
            .Select(section => $"{section.Replace(":", "__", StringComparison.Ordinal)}__{property}")
            .ToList();
        return settings.Count == 0
            ? null
            : $"{string.Join(" or ", settings)}: {exception.Message} (librdkafka's properties and values: https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md).";
    }

    [GeneratedRegex("configuration property:? \"(?<name>[^\"]+)\"")]
    private static partial Regex PropertyName();
}
