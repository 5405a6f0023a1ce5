using System.Globalization;
using System.Text.Json.Serialization;
using SignalPipeline.Filters;

namespace FilterService;

/// <summary>The <c>GET /algorithms</c> document: each algorithm's parameters with defaults and ranges.</summary>
public sealed record AlgorithmCatalog(
    [property: JsonPropertyName("algorithms")] IReadOnlyList<AlgorithmInfo> Algorithms)
{
    public static AlgorithmCatalog Describe(IEnumerable<AlgorithmDescriptor> algorithms)
        => new([.. algorithms.Select(a => new AlgorithmInfo(a.Name, a.Description, [.. a.Parameters.Select(ParameterInfo.From)]))]);
}

public sealed record AlgorithmInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string Description,
    [property: JsonPropertyName("parameters")] IReadOnlyList<ParameterInfo> Parameters);

/// <summary>A parameter; an unbounded side of the range is <c>null</c> (JSON has no infinity).</summary>
public sealed record ParameterInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string Description,
    [property: JsonPropertyName("default")] double Default,
    [property: JsonPropertyName("min")] double? Min,
    [property: JsonPropertyName("max")] double? Max,
    [property: JsonPropertyName("min_exclusive")] bool MinExclusive,
    [property: JsonPropertyName("max_exclusive")] bool MaxExclusive,
    [property: JsonPropertyName("integer")] bool Integer,
    [property: JsonPropertyName("range")] string Range)
{
    // The library gives an unbounded side as +-double.MaxValue (ParameterDescriptor's remarks), or as an infinity.
    public static ParameterInfo From(ParameterDescriptor p)
    {
        var lowUnbounded = p.Min <= -double.MaxValue;
        var highUnbounded = p.Max >= double.MaxValue;
        return new(
            p.Name, p.Description, p.Default,
            lowUnbounded ? null : p.Min,
            highUnbounded ? null : p.Max,
            p.MinExclusive, p.MaxExclusive, p.IsInteger,
            $"{(p.MinExclusive || lowUnbounded ? "(" : "[")}{(lowUnbounded ? "-inf" : Format(p.Min))}, "
            + $"{(highUnbounded ? "inf" : Format(p.Max))}{(p.MaxExclusive || highUnbounded ? ")" : "]")}");
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
