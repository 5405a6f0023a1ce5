using System.Text.Json;

namespace SignalPipeline.Messages;

/// <summary>What <see cref="JsonSampleArray.Read"/> found.</summary>
public enum JsonSampleArrayStatus
{
    /// <summary>The whole array was read; the reader is on its <c>]</c>.</summary>
    Read,

    /// <summary>The current token is not <c>[</c> (the reader is still on it).</summary>
    NotAnArray,

    /// <summary>An element is not a JSON number (the reader is on it: a string, null, an object...).</summary>
    NotANumber,

    /// <summary>An element is a JSON number beyond the double range, such as <c>1e999</c> (the reader is on it).</summary>
    NotFinite,

    /// <summary>The sink refused a sample (<see cref="ISampleSink.TryAdd"/> returned false; the reader is on it).</summary>
    TooMany,

    /// <summary>The input ended inside the array.</summary>
    Truncated,
}

/// <summary>Where <see cref="JsonSampleArray.Read"/> puts the samples it reads.</summary>
public interface ISampleSink
{
    /// <summary>Appends <paramref name="sample"/>; false when there is no room (a size limit).</summary>
    bool TryAdd(double sample);
}

/// <summary>
/// The one reader of JSON sample arrays (<c>[0.2, 0.9, -0.8]</c>) on a <see cref="Utf8JsonReader"/>, shared by the
/// message codec and the filter service's request parser, each of which words its own errors from the
/// <see cref="JsonSampleArrayStatus"/> and the element the reader is left on. Syntax errors are the reader's
/// <see cref="JsonException"/>.
/// </summary>
public static class JsonSampleArray
{
    /// <summary>
    /// Reads the array whose <c>[</c> is the reader's current token into <paramref name="sink"/>, element by element.
    /// <paramref name="count"/> is the number of samples added (on failure: the index of the element the reader is on).
    /// </summary>
    public static JsonSampleArrayStatus Read<TSink>(ref Utf8JsonReader reader, ref TSink sink, out int count)
        where TSink : ISampleSink, allows ref struct
    {
        count = 0;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return JsonSampleArrayStatus.NotAnArray;
        }

        while (true)
        {
            if (!reader.Read())
            {
                return JsonSampleArrayStatus.Truncated;
            }

            if (reader.TokenType == JsonTokenType.EndArray)
            {
                return JsonSampleArrayStatus.Read;
            }

            if (reader.TokenType != JsonTokenType.Number)
            {
                return JsonSampleArrayStatus.NotANumber;
            }

            if (!reader.TryGetDouble(out var sample) || !double.IsFinite(sample))
            {
                return JsonSampleArrayStatus.NotFinite;
            }

            if (!sink.TryAdd(sample))
            {
                return JsonSampleArrayStatus.TooMany;
            }

            count++;
        }
    }

    /// <summary>A JSON token as an error message names it: <c>a string</c>, <c>a number</c>, <c>null</c>, <c>an array</c>...</summary>
    public static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        _ => token.ToString(),
    };
}
