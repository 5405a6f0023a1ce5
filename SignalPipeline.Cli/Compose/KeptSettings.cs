namespace SignalPipeline.Cli.Compose;

/// <summary>
/// A regenerated settings file (<c>.env</c>, <c>gateway.env</c>) that keeps what the user set in the file it replaces,
/// as <c>k8s generate</c> keeps the user's <c>*.secrets.env</c>. Each setting line of the generated file, set
/// (<c>KEY=value</c>) or commented (<c># KEY=value</c>), becomes <c>KEY=</c> the existing file's value when the existing
/// file sets that key, unless the key was given on the command line. Everything else (comments, sections, order, the
/// settings the user did not set) is as generated. Pure: text in, text out.
/// </summary>
/// <param name="Content">The file to write.</param>
/// <param name="Kept">Keys whose line differs from the generated one because the user's value was kept.</param>
/// <param name="Dropped">Keys the existing file sets that the generated file no longer has.</param>
public sealed record KeptSettings(string Content, IReadOnlyList<string> Kept, IReadOnlyList<string> Dropped)
{
    public static KeptSettings Merge(string generated, string existing, IReadOnlySet<string> given)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var line in existing.Split('\n'))
        {
            // A set line only: one the user left commented is the generated default, regenerated as such.
            if (Setting(line.TrimEnd('\r')) is ({ } key, var value, false))
            {
                if (values.TryAdd(key, value))
                {
                    order.Add(key);
                }
                else
                {
                    values[key] = value; // compose reads the last one
                }
            }
        }

        var kept = new List<string>();
        var known = new HashSet<string>(StringComparer.Ordinal);
        var lines = generated.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (Setting(lines[i]) is not ({ } key, _, _))
            {
                continue;
            }

            known.Add(key);
            if (!given.Contains(key) && values.TryGetValue(key, out var value) && $"{key}={value}" is var line && line != lines[i])
            {
                lines[i] = line;
                kept.Add(key);
            }
        }

        return new KeptSettings(string.Join('\n', lines), kept, [.. order.Where(k => !known.Contains(k))]);
    }

    /// <summary>A <c>KEY=value</c> line, or a commented <c># KEY=value</c> one; anything else is not a setting.</summary>
    private static (string? Key, string Value, bool Commented) Setting(string line)
    {
        var commented = line.StartsWith("# ", StringComparison.Ordinal);
        var text = commented ? line[2..] : line;
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals < 1 || text.StartsWith('#'))
        {
            return (null, "", false);
        }

        var key = text[..equals].Trim();
        return IsName(key) ? (key, text[(equals + 1)..], commented) : (null, "", false);
    }

    private static bool IsName(string key) =>
        key.Length > 0 && (char.IsAsciiLetter(key[0]) || key[0] == '_') && key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
