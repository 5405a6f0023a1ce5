using System.Globalization;
using System.Text;

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

    /// <summary>The longest line read (1 Mi characters): far more than any CSV row of samples, and bounded memory.</summary>
    public const int MaxLineChars = 1 << 20;

    /// <summary>
    /// The samples of <paramref name="file"/> (stdin for null or <c>-</c>), read as they are enumerated: the file is
    /// opened when the enumeration starts and closed when it ends, so a file of any size takes the same memory.
    /// </summary>
    public static IEnumerable<double> ReadFile(string? file, string? column)
    {
        if (file is null or "-")
        {
            foreach (var sample in Read(Console.In, "stdin", column))
            {
                yield return sample;
            }

            yield break;
        }

        using var reader = new StreamReader(file);
        foreach (var sample in Read(reader, file, column))
        {
            yield return sample;
        }
    }

    /// <summary>Reads every sample of <paramref name="column"/>: a 0-based index or a header name (default 0).</summary>
    public static IEnumerable<double> Read(TextReader reader, string source, string? column = null)
    {
        int? index = column is null ? 0
            : int.TryParse(column, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : null;
        var lineNumber = 0;
        var sawData = false;
        foreach (var line in Lines(reader, source))
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

    /// <summary>
    /// The lines of <paramref name="reader"/> as <see cref="TextReader.ReadLine"/> splits them (<c>\n</c>, <c>\r\n</c> or
    /// <c>\r</c>), each at most <see cref="MaxLineChars"/> long: ReadLine holds a line whole, so a file without line breaks
    /// (a raw recording of zeros, a one-line JSON array) filled the memory and ended in an OutOfMemoryException.
    /// </summary>
    private static IEnumerable<string> Lines(TextReader reader, string source)
    {
        var buffer = new char[64 * 1024];
        var line = new StringBuilder();
        var lineNumber = 1;
        var afterCr = false;
        int read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            var rest = buffer.AsMemory(0, read);
            if (afterCr && rest.Span[0] == '\n')
            {
                rest = rest[1..];
            }

            afterCr = false;
            int end;
            while ((end = rest.Span.IndexOfAny('\r', '\n')) >= 0)
            {
                Append(line, rest.Span[..end], source, lineNumber);
                yield return line.ToString();
                line.Clear();
                lineNumber++;
                var crlf = rest.Span[end] == '\r' && end + 1 < rest.Length && rest.Span[end + 1] == '\n';
                afterCr = rest.Span[end] == '\r' && end + 1 == rest.Length;
                rest = rest[(end + (crlf ? 2 : 1))..];
            }

            Append(line, rest.Span, source, lineNumber);
        }

        if (line.Length > 0)
        {
            yield return line.ToString();
        }
    }

    private static void Append(StringBuilder line, ReadOnlySpan<char> text, string source, int lineNumber)
    {
        if (line.Length + text.Length > MaxLineChars)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"{source} line {lineNumber}: longer than {MaxLineChars} characters; not a text file of numbers (a WAV file goes with --wav)."));
        }

        line.Append(text);
    }

    private static bool IsNumber(string field) => double.TryParse(field.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out _);
}
