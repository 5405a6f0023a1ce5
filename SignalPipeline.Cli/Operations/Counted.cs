using System.Globalization;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// A count and its noun as the CLI's summary lines print them: "1 chunk", "0 chunks", "3 chunks" (invariant digits, as
/// every other number the CLI prints). One place, so no line says "1 chunks".
/// </summary>
public static class Counted
{
    /// <param name="count">How many.</param>
    /// <param name="one">The noun for one (<c>chunk</c>, <c>dead letter</c>).</param>
    /// <param name="many">The noun for any other count; <paramref name="one"/> + "s" when not given (<c>entry</c> needs <c>entries</c>).</param>
    public static string Of(long count, string one, string? many = null)
        => $"{count.ToString(CultureInfo.InvariantCulture)} {(count == 1 ? one : many ?? one + "s")}";

    /// <summary>"was" or "were", to agree with <paramref name="count"/> ("1 dead letter was replayed", "3 ... were").</summary>
    public static string Was(long count) => count == 1 ? "was" : "were";
}
