using System.Text.Json;
using SignalPipeline.Messages;

namespace FilterService;

/// <summary>One stream's chunk in a request: its samples (a slice of the request's <see cref="SampleList"/>) and optional state.</summary>
public readonly record struct FilterRequestItem(int Offset, int Length, byte[]? State);

/// <summary>
/// A parsed <c>/audio/run</c> (one item) or <c>/audio/batch</c> request. Parsing reads the body with
/// <see cref="Utf8JsonReader"/> straight into a <see cref="SampleList"/>: no per-sample allocation.
/// </summary>
public sealed class FilterRequest
{
    public Dictionary<string, double>? Parameters { get; private set; }

    public List<FilterRequestItem> Items { get; } = [];

    /// <summary>For requests read from other encodings (the binary batch): the parameters of the items without state.</summary>
    public void SetParameters(Dictionary<string, double>? parameters) => Parameters = parameters;

    /// <summary>For requests read from other encodings (the binary body).</summary>
    public void SetSingleItem(Dictionary<string, double>? parameters, FilterRequestItem item)
    {
        Parameters = parameters;
        Items.Clear();
        Items.Add(item);
    }

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16 };

    /// <summary><c>{"signal":[...], "params":{...}, "state":"base64"}</c>; unknown properties are ignored.</summary>
    public static FilterRequest ParseRun(ReadOnlySpan<byte> json, SampleList samples)
    {
        EnsureNotBlank(json);
        var request = new FilterRequest();
        var reader = new Utf8JsonReader(json, ReaderOptions);
        try
        {
            ReadStartObject(ref reader, "The request body");
            var item = request.ReadItem(ref reader, samples, path: "", allowParams: true);
            EnsureEnd(ref reader);
            request.Items.Add(item);
        }
        catch (Exception ex) when (IsMalformedJson(ex))
        {
            throw FilterRequestException.BadRequest($"Malformed JSON: {ex.Message}");
        }

        return request;
    }

    /// <summary><c>{"params":{...}, "items":[{"signal":[...], "state":"base64"}, ...]}</c>; more than <paramref name="maxItems"/> items get 413.</summary>
    public static FilterRequest ParseBatch(ReadOnlySpan<byte> json, SampleList samples, int maxItems = int.MaxValue)
    {
        EnsureNotBlank(json);
        var request = new FilterRequest();
        var reader = new Utf8JsonReader(json, ReaderOptions);
        try
        {
            ReadStartObject(ref reader, "The request body");
            var sawItems = false;
            var sawParams = false;
            while (Next(ref reader) != JsonTokenType.EndObject)
            {
                if (reader.ValueTextEquals("params"u8))
                {
                    EnsureFirst(ref sawParams, "params");
                    Next(ref reader);
                    request.Parameters = ReadParameters(ref reader, "params");
                }
                else if (reader.ValueTextEquals("items"u8))
                {
                    EnsureFirst(ref sawItems, "items");
                    if (Next(ref reader) != JsonTokenType.StartArray)
                    {
                        throw FilterRequestException.BadRequest("'items' must be an array of {\"signal\":[...], \"state\":\"...\"} objects.");
                    }

                    while (Next(ref reader) != JsonTokenType.EndArray)
                    {
                        if (request.Items.Count == maxItems)
                        {
                            throw TooManyItems(maxItems);
                        }

                        var path = $"items[{request.Items.Count}]";
                        if (reader.TokenType != JsonTokenType.StartObject)
                        {
                            throw FilterRequestException.BadRequest($"{path} must be an object with a 'signal' array.");
                        }

                        request.Items.Add(request.ReadItem(ref reader, samples, path + ".", allowParams: false));
                    }
                }
                else
                {
                    Next(ref reader);
                    reader.Skip();
                }
            }

            EnsureEnd(ref reader);
            if (!sawItems || request.Items.Count == 0)
            {
                throw FilterRequestException.BadRequest("'items' is missing or empty: a batch needs at least one item.");
            }
        }
        catch (Exception ex) when (IsMalformedJson(ex))
        {
            throw FilterRequestException.BadRequest($"Malformed JSON: {ex.Message}");
        }

        return request;
    }

    /// <summary>413 for a batch over FilterService:MaxBatchItems (both forms).</summary>
    public static FilterRequestException TooManyItems(int maxItems) => FilterRequestException.TooLarge("batch_items",
        $"The batch has more than {maxItems} items; the limit (FilterService:MaxBatchItems) is {maxItems} items per request.");

    /// <summary>Reads the properties of an object whose StartObject is the current token, up to its EndObject.</summary>
    private FilterRequestItem ReadItem(ref Utf8JsonReader reader, SampleList samples, string path, bool allowParams)
    {
        var offset = samples.Count;
        var length = -1;
        byte[]? state = null;
        var sawState = false;
        var sawParams = false;
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            if (reader.ValueTextEquals("signal"u8))
            {
                if (length >= 0)
                {
                    throw FilterRequestException.BadRequest($"'{path}signal' is given twice.");
                }

                Next(ref reader);
                offset = samples.Count;
                length = ReadSignal(ref reader, samples, path + "signal");
            }
            else if (reader.ValueTextEquals("state"u8))
            {
                EnsureFirst(ref sawState, path + "state");
                Next(ref reader);
                state = ReadState(ref reader, path + "state");
            }
            else if (reader.ValueTextEquals("params"u8))
            {
                if (!allowParams)
                {
                    throw FilterRequestException.BadRequest($"'{path}params' is not supported: a batch takes one top-level 'params' for the items without state.");
                }

                EnsureFirst(ref sawParams, path + "params");
                Next(ref reader);
                Parameters = ReadParameters(ref reader, path + "params");
            }
            else
            {
                Next(ref reader);
                reader.Skip();
            }
        }

        if (length < 0)
        {
            throw FilterRequestException.BadRequest($"'{path}signal' is missing: send {{\"signal\":[numbers]}}.");
        }

        return new FilterRequestItem(offset, length, state);
    }

    private static int ReadSignal(ref Utf8JsonReader reader, SampleList samples, string path)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw FilterRequestException.BadRequest($"'{path}' must be an array of numbers.");
        }

        var sink = new SampleListSink(samples);
        var status = JsonSampleArray.Read(ref reader, ref sink, out var count);
        if (status == JsonSampleArrayStatus.Truncated)
        {
            throw FilterRequestException.BadRequest("Malformed JSON: the body ends before the request object does.");
        }

        if (status == JsonSampleArrayStatus.NotANumber)
        {
            throw FilterRequestException.BadRequest($"{path}[{count}] is not a number ({JsonSampleArray.Describe(reader.TokenType)}).");
        }

        if (status == JsonSampleArrayStatus.NotFinite)
        {
            throw FilterRequestException.BadRequest($"{path}[{count}] is not a finite double-precision number.");
        }

        if (count == 0)
        {
            throw FilterRequestException.BadRequest($"'{path}' is empty: send at least one sample.");
        }

        return count;
    }

    private static byte[]? ReadState(ref Utf8JsonReader reader, string path)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.String || !reader.TryGetBytesFromBase64(out var state))
        {
            throw FilterRequestException.BadRequest($"'{path}' must be the base64 string returned by a previous call.");
        }

        return state.Length == 0 ? null : state;
    }

    /// <summary>Most entries in one <c>params</c> object (the algorithms have at most a handful).</summary>
    public const int MaxParameters = 32;

    /// <summary>Longest parameter name accepted, in bytes as written (escapes included).</summary>
    public const int MaxParameterNameBytes = 64;

    private static Dictionary<string, double>? ReadParameters(ref Utf8JsonReader reader, string path)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw FilterRequestException.BadRequest($"'{path}' must be an object of numbers, e.g. {{\"q\": 1e-5}}.");
        }

        // Case-insensitive like the library's names: {"q":1,"Q":2} would otherwise pass one of them silently.
        var parameters = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            // Names are echoed in the answer and held per item: a 16 MiB body could otherwise hold a million of them, or
            // one of 16 MiB copied into each message that names it.
            var nameBytes = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
            if (nameBytes > MaxParameterNameBytes)
            {
                throw FilterRequestException.BadRequest($"'{path}' has a name of {nameBytes} bytes: parameter names are at most {MaxParameterNameBytes} bytes.");
            }

            if (parameters.Count == MaxParameters)
            {
                throw FilterRequestException.BadRequest($"'{path}' has more than {MaxParameters} entries: no algorithm has that many parameters.");
            }

            var name = reader.GetString()!;
            Next(ref reader);
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var value) || !double.IsFinite(value))
            {
                throw FilterRequestException.BadRequest($"'{path}.{name}' must be a finite number.");
            }

            if (!parameters.TryAdd(name, value))
            {
                throw FilterRequestException.BadRequest($"'{path}.{name}' is given twice (parameter names are case-insensitive).");
            }
        }

        return parameters;
    }

    /// <summary>
    /// What the reader throws on a body that is not JSON. A <c>\u</c> escape that is not UTF-16 (a lone surrogate such as
    /// <c>"\udc00"</c>) passes <see cref="Utf8JsonReader.Read"/> and throws <see cref="InvalidOperationException"/> only
    /// when unescaped: comparing a property name, reading a <c>params</c> name, decoding the state. Nothing else in the
    /// parser throws that exception.
    /// </summary>
    private static bool IsMalformedJson(Exception ex) => ex is JsonException or InvalidOperationException;

    /// <summary>
    /// A property given twice would leave one of its values unused without a word (a second <c>items</c> array was
    /// appended, a second <c>params</c> or <c>state</c> replaced the first): refused, as a second <c>signal</c> is.
    /// </summary>
    private static void EnsureFirst(ref bool seen, string name)
    {
        if (seen)
        {
            throw FilterRequestException.BadRequest($"'{name}' is given twice.");
        }

        seen = true;
    }

    private static void ReadStartObject(ref Utf8JsonReader reader, string what)
    {
        if (!reader.Read())
        {
            throw FilterRequestException.BadRequest($"{what} is empty: send a JSON object such as {{\"signal\":[0.2, 0.9]}}.");
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw FilterRequestException.BadRequest($"{what} must be a JSON object, not {JsonSampleArray.Describe(reader.TokenType)}.");
        }
    }

    private static void EnsureNotBlank(ReadOnlySpan<byte> json)
    {
        if (json.Trim(" \t\r\n"u8).IsEmpty)
        {
            throw FilterRequestException.BadRequest("The request body is empty: send a JSON object such as {\"signal\":[0.2, 0.9]}.");
        }
    }

    private static void EnsureEnd(ref Utf8JsonReader reader)
    {
        // Reading past the root object makes the reader reject trailing garbage.
        if (reader.Read())
        {
            throw FilterRequestException.BadRequest("Malformed JSON: unexpected data after the request object.");
        }
    }

    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
        {
            throw FilterRequestException.BadRequest("Malformed JSON: the body ends before the request object does.");
        }

        return reader.TokenType;
    }

    /// <summary>The request's <see cref="SampleList"/> as the shared reader's sink (the list answers 413 past its limit itself).</summary>
    private readonly struct SampleListSink(SampleList samples) : ISampleSink
    {
        public bool TryAdd(double sample)
        {
            samples.Add(sample);
            return true;
        }
    }
}
