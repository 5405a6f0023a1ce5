using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
namespace SignalPipeline.Filters;

/// <summary>
/// A stream's algorithm and parameters (one record of the processor's stream-config topic), validated as
/// <c>/algorithms</c> describes them (<see cref="FilterFactory.Create"/>)
/// and held resolved: every parameter of the algorithm by its descriptor name, defaults filled in, so two configs that
/// filter alike compare equal. The record format is docs/messages.md's "Stream configuration":
/// <c>{"algorithm":"rls","params":{"order":16,"lambda":0.995}}</c>.
/// </summary>
public sealed class StreamFilterConfig
{
    private readonly FilterRegistration _registration;

    private StreamFilterConfig(string algorithm, IReadOnlyDictionary<string, double> parameters)
    {
        (Algorithm, Parameters) = (algorithm, parameters);
        _registration = FilterFactory.Find(algorithm)!;
    }

    /// <summary>Lower-case algorithm name.</summary>
    public string Algorithm { get; }

    /// <summary>Every parameter of the algorithm, in descriptor order.</summary>
    public IReadOnlyDictionary<string, double> Parameters { get; }

    /// <summary>Validates and resolves; throws <see cref="StreamConfigException"/> naming what is wrong.</summary>
    public static StreamFilterConfig Create(string algorithm, IReadOnlyDictionary<string, double>? parameters)
    {
        try
        {
            var filter = (IInspectableFilter)FilterFactory.Create(algorithm, parameters);
            var inspection = filter.Inspect();
            return new StreamFilterConfig(inspection.Algorithm, inspection.Parameters);
        }
        catch (ArgumentException e) when (e is UnknownAlgorithmException or FilterParameterException)
        {
            throw new StreamConfigException(e.Message);
        }
    }

    /// <summary>
    /// Largest stream-config record value taken (a config is about 100 bytes; docs/messages.md): every processor instance
    /// holds every entry, so a larger one is refused. Checked by <see cref="Parse"/>, so whoever reads the topic (the
    /// processor, <c>signal-pipeline streams config</c>) refuses the same entries.
    /// </summary>
    public const int MaxRecordBytes = 4096;

    /// <summary>The refusal of a value over <see cref="MaxRecordBytes"/>.</summary>
    public static string TooLarge(int bytes) => $"the value is {bytes} bytes, over the {MaxRecordBytes} a stream-config entry may take";

    /// <summary>Reads a stream-config record's value; throws <see cref="StreamConfigException"/> naming what is wrong.</summary>
    public static StreamFilterConfig Parse(ReadOnlySpan<byte> json)
    {
        if (json.Length > MaxRecordBytes)
        {
            throw new StreamConfigException(TooLarge(json.Length));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new StreamConfigException($"the value is not JSON: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new StreamConfigException($"the value is a JSON {root.ValueKind.ToString().ToLowerInvariant()}, not an object {{\"algorithm\": ..., \"params\": {{...}}}}");
            }

            string? algorithm = null;
            var parameters = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
            var (sawAlgorithm, sawParams) = (false, false);
            foreach (var property in root.EnumerateObject())
            {
                // A field or parameter given twice would leave one value unused without a word: refused, as the filter
                // API refuses it.
                if (property.Name is "algorithm" or "params")
                {
                    ref var seen = ref property.Name == "algorithm" ? ref sawAlgorithm : ref sawParams;
                    if (seen)
                    {
                        throw new StreamConfigException($"'{property.Name}' is given twice");
                    }

                    seen = true;
                }

                switch (property.Name)
                {
                    case "algorithm" when property.Value.ValueKind == JsonValueKind.String:
                        algorithm = property.Value.GetString();
                        break;
                    case "algorithm":
                        throw new StreamConfigException($"'algorithm' must be a string ({FilterFactory.NamesOr})");
                    case "params" when property.Value.ValueKind == JsonValueKind.Object:
                        foreach (var parameter in property.Value.EnumerateObject())
                        {
                            var value = parameter.Value.ValueKind == JsonValueKind.Number && parameter.Value.TryGetDouble(out var number) && double.IsFinite(number)
                                ? number
                                : throw new StreamConfigException($"params.{Quote.Raw(parameter.Name)} must be a finite number, not {Quote.Raw(parameter.Value.GetRawText())}");
                            if (!parameters.TryAdd(parameter.Name, value))
                            {
                                throw new StreamConfigException($"params.{Quote.Raw(parameter.Name)} is given twice (parameter names are case-insensitive)");
                            }
                        }

                        break;
                    case "params" when property.Value.ValueKind == JsonValueKind.Null:
                        break;
                    case "params":
                        throw new StreamConfigException("'params' must be an object of parameter names to numbers");
                    default:
                        throw new StreamConfigException($"unknown field {Quote.Of(property.Name)} (known: algorithm, params)");
                }
            }

            return string.IsNullOrWhiteSpace(algorithm)
                ? throw new StreamConfigException($"'algorithm' is missing ({FilterFactory.NamesOr})")
                : Create(algorithm, parameters);
        }
    }

    /// <summary>The record format, parameters in descriptor order, numbers round-tripping bit for bit.</summary>
    public byte[] ToJson()
    {
        var json = new StringBuilder("{\"algorithm\":\"").Append(Algorithm).Append("\",\"params\":{");
        var first = true;
        foreach (var (name, value) in Parameters)
        {
            json.Append(first ? "" : ",").Append('"').Append(name).Append("\":").Append(RoundTrip(value));
            first = false;
        }

        return Encoding.UTF8.GetBytes(json.Append("}}").ToString());
    }

    // "R" is .NET's shortest text, which for a few doubles (2^-958: 4.104536801298376E-289) parses back to a neighbour;
    // 17 significant digits always parse back to the same double.
    private static string RoundTrip(double value)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return BitConverter.DoubleToInt64Bits(double.Parse(text, CultureInfo.InvariantCulture)) == BitConverter.DoubleToInt64Bits(value)
            ? text
            : value.ToString("G17", CultureInfo.InvariantCulture);
    }

    /// <summary>The algorithm and parameters a <see cref="IStreamFilter.SaveState"/> snapshot runs (throws <see cref="InvalidFilterStateException"/>).</summary>
    public static StreamFilterConfig Of(ReadOnlySpan<byte> state)
    {
        var inspection = FilterInspector.Inspect(state);
        return new StreamFilterConfig(inspection.Algorithm, inspection.Parameters);
    }

    /// <summary>
    /// Whether <paramref name="state"/> (a <see cref="IStreamFilter.SaveState"/> snapshot) is of this algorithm with
    /// these parameters, bit for bit. Reads the algorithm id and the parameters only, no checksum: cheap enough for
    /// every stream of every batch; a corrupt snapshot still fails where it is restored.
    /// </summary>
    public bool Runs(ReadOnlySpan<byte> state)
    {
        var names = _registration.Descriptor.Parameters;
        if (state.Length < FilterState.Size(names.Count, 0) || state[6] != _registration.Id || state[7] != names.Count)
        {
            return false;
        }

        for (var i = 0; i < names.Count; i++)
        {
            var value = BinaryPrimitives.ReadDoubleLittleEndian(state[(FilterState.HeaderSize + 8 * i)..]);
            if (!value.Equals(Parameters[names[i].Name]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A filter at its initial state.</summary>
    public IStreamFilter NewFilter() => FilterFactory.Create(Algorithm, Parameters);

    private int _stateBytes = -1;

    /// <summary>
    /// The size of this config's <see cref="IStreamFilter.SaveState"/> snapshot, which filtering does not change (kalman
    /// 76 bytes, rls at order 64 about 33 KB): what a stream's state will take once committed, for the processor's
    /// <c>Processor:MaxStreamBytes</c>. Computed once (a benign race at worst computes it twice).
    /// </summary>
    public int StateBytes => _stateBytes >= 0 ? _stateBytes : _stateBytes = NewFilter().SaveState().Length;

    /// <summary>Same algorithm and the same value of every parameter (bit for bit).</summary>
    public bool SameAs(StreamFilterConfig other)
        => Algorithm == other.Algorithm && Parameters.Count == other.Parameters.Count
            && Parameters.All(p => other.Parameters.TryGetValue(p.Key, out var v) && v.Equals(p.Value));

    public override string ToString() => Encoding.UTF8.GetString(ToJson());
}

/// <summary>A stream-config value is refused; the message says what is wrong (it becomes the dead letter's reason).</summary>
public sealed class StreamConfigException(string message) : Exception(message);
