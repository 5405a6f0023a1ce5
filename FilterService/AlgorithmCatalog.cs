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
    public static ParameterInfo From(ParameterDescriptor p) => new(
        p.Name, p.Description, p.Default,
        double.IsFinite(p.Min) ? p.Min : null,
        double.IsFinite(p.Max) ? p.Max : null,
        p.MinExclusive, p.MaxExclusive, p.IsInteger,
        $"{(p.MinExclusive || !double.IsFinite(p.Min) ? "(" : "[")}{Format(p.Min)}, {Format(p.Max)}{(p.MaxExclusive || !double.IsFinite(p.Max) ? ")" : "]")}");

    private static string Format(double value) => value switch
    {
        double.PositiveInfinity => "inf",
        double.NegativeInfinity => "-inf",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };
}
