using System.Globalization;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// Samples from text: one number per line, or CSV (comma, semicolon or tab separated) with the samples in one column.
/// Lines before the first number in the column are headers, also a title shorter than the column (a header's names can
/// pick the column); blank lines and lines starting with <c>#</c> are skipped; any later line that does not parse is an
/// error naming the line.
/// </summary>
public static class SignalTextReader
{
    private static readonly char[] Separators = [',', ';', '\t'];

    /// <summary>Reads every sample of <paramref name="column"/>: a 0-based index or a header name (default 0).</summary>
    public static IEnumerable<double> Read(TextReader reader, string source, string? column = null)
    {
        int? index = column is null ? 0
            : int.TryParse(column, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : null;
        var lineNumber = 0;
        var sawData = false;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            var text = line.Trim();
            if (text.Length == 0 || text[0] == '#')
            {
                continue;
            }

            var fields = text.Split(Separators);
            if (!sawData && index is null)
            {
                var named = Array.FindIndex(fields, f => f.Trim().Trim('"') == column);
                if (named < 0)
                {
                    continue;
                }

                index = named;
                continue;
            }

            if (index is not { } at)
            {
                throw new UsageException($"{source}: no header line names a column '{column}'.");
            }

            var field = at < fields.Length ? fields[at].Trim() : null;
            var isNumber = double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out var sample);

            // Before the first sample, a line without a number in the column is a header (a title line may be one field
            // short of it), unless it is all numbers: that is data lacking the column, said as such.
            if (!sawData && !isNumber && !fields.All(IsNumber))
            {
                continue;
            }

            if (field is null)
            {
                throw new UsageException($"{source} line {lineNumber}: no column {at} (the line has {fields.Length}).");
            }

            if (!isNumber)
            {
                throw new UsageException($"{source} line {lineNumber}: '{field}' is not a number.");
            }

            if (!double.IsFinite(sample))
            {
                throw new UsageException($"{source} line {lineNumber}: {field} is not a finite number.");
            }

            sawData = true;
            yield return sample;
        }

        if (index is null)
        {
            throw new UsageException($"{source}: no header line names a column '{column}'.");
        }
    }

    private static bool IsNumber(string field) => double.TryParse(field.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out _);
}
