using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;

namespace SignalPipeline.DevBroker;

/// <summary>
/// Reads API and error names as people write them: Kafka's (<c>NOT_ENOUGH_REPLICAS</c>), librdkafka's local ones
/// (<c>_TRANSPORT</c>), Confluent.Kafka's (<c>NotEnoughReplicas</c>, <c>Local_Transport</c>), or the number.
/// Only names and numbers that exist are accepted, so a typo is an error rather than a fault nobody asked for.
/// </summary>
public static class FaultNames
{
    // Confluent.Kafka's names differ from Kafka's in places (GroupCoordinatorNotAvailable = COORDINATOR_NOT_AVAILABLE),
    // so librdkafka's own names are keys too.
    private static readonly FrozenDictionary<string, ErrorCode> Errors = BuildErrors();

    private static readonly FrozenDictionary<string, KafkaApi> Apis = Enum.GetValues<KafkaApi>()
        .ToFrozenDictionary(api => Normalize(api.ToString()), api => api);

    /// <summary>Every API name accepted, for error messages and docs.</summary>
    public static string ApiList => string.Join(", ", Enum.GetNames<KafkaApi>());

    /// <summary>A JSON string (a name or a key) or number (the key), as the errors are read.</summary>
    public static bool TryParseApi(JsonElement? element, out KafkaApi api)
    {
        api = default;
        switch (element?.ValueKind)
        {
            case JsonValueKind.Number:
                if (element.Value.TryGetInt16(out var key) && key >= 0)
                {
                    api = (KafkaApi)key;
                    return true;
                }

                return false;
            case JsonValueKind.String:
                return TryParseApi(element.Value.GetString(), out api);
            default:
                return false;
        }
    }

    public static bool TryParseApi(string? text, out KafkaApi api)
    {
        api = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (short.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var key))
        {
            // A raw key the mock may serve even without a name here (e.g. 15 DescribeGroups).
            api = (KafkaApi)key;
            return true;
        }

        return Apis.TryGetValue(Normalize(text), out api);
    }

    /// <summary>A JSON string (a name) or number (the code); only defined codes.</summary>
    public static bool TryParseError(JsonElement element, out ErrorCode error)
    {
        error = default;
        return element.ValueKind switch
        {
            JsonValueKind.Number => element.TryGetInt32(out var code) && Enum.IsDefined((ErrorCode)code) && Assign((ErrorCode)code, out error),
            JsonValueKind.String => TryParseError(element.GetString(), out error),
            _ => false,
        };
    }

    public static bool TryParseError(string? text, out ErrorCode error)
    {
        error = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code))
        {
            return Enum.IsDefined((ErrorCode)code) && Assign((ErrorCode)code, out error);
        }

        // librdkafka writes its local (client-side) errors with a leading underscore: _TRANSPORT = Local_Transport.
        return Errors.TryGetValue(text.StartsWith('_') ? "LOCAL" + Normalize(text) : Normalize(text), out error);
    }

    private static bool Assign(ErrorCode value, out ErrorCode error)
    {
        error = value;
        return true;
    }

    private static FrozenDictionary<string, ErrorCode> BuildErrors()
    {
        LibrdkafkaNative.EnsureLoaded();
        var names = Enum.GetNames<ErrorCode>().Select(name => (Key: Normalize(name), Code: Enum.Parse<ErrorCode>(name)))
            .Concat(Enum.GetValues<ErrorCode>().Select(code => (Key: LibrdkafkaKey(code), Code: code)));
        var errors = new Dictionary<string, ErrorCode>();
        foreach (var (key, code) in names.Where(entry => entry.Key.Length > 0))
        {
            // Aliases of one code share a key; one key for two codes would make a name mean the wrong fault.
            if (errors.TryGetValue(key, out var other) && other != code)
            {
                throw new InvalidOperationException($"The error name '{key}' means both {other} and {code}.");
            }

            errors[key] = code;
        }

        return errors.ToFrozenDictionary();
    }

    private static string LibrdkafkaKey(ErrorCode code)
    {
        var name = LibrdkafkaNative.Name((int)code);
        return name.StartsWith('_') ? "LOCAL" + Normalize(name) : Normalize(name);
    }

    private static string Normalize(string name) => name.Replace("_", "", StringComparison.Ordinal).ToUpperInvariant();
}
