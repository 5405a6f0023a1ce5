namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// The repository's own text holds no merge-conflict markers: a conflict resolved by committing both sides reached
/// docs/filter-api.md on 2026-12-05 (its "Limits" paragraph in two versions between <c>&lt;&lt;&lt;&lt;&lt;&lt;&lt; HEAD</c>
/// and <c>&gt;&gt;&gt;&gt;&gt;&gt;&gt;</c>), and nothing else would have noticed: a doc is a promise read by others.
/// </summary>
public sealed class RepositoryTextTests
{
    private static readonly string[] Extensions =
        [".md", ".cs", ".csproj", ".props", ".targets", ".json", ".yaml", ".yml", ".sh", ".js", ".html", ".css", ".py", ".sln"];

    private static readonly string[] SkippedFolders = ["bin", "obj", ".git", "artifacts", "TestResults", "node_modules", "lib"];

    // Built here so that this file does not hold them.
    private static readonly string[] Markers = [new string('<', 7) + " ", new string('>', 7) + " ", new string('|', 7) + " "];

    [Fact]
    public void No_file_of_the_repository_holds_a_merge_conflict_marker()
    {
        var found = (from file in TextFiles(new DirectoryInfo(RepositoryLayout.Root))
                     from line in File.ReadLines(file.FullName).Select((text, index) => (Text: text, Number: index + 1))
                     where Markers.Any(m => line.Text.StartsWith(m, StringComparison.Ordinal))
                     select $"{Path.GetRelativePath(RepositoryLayout.Root, file.FullName)}:{line.Number}: {line.Text}").ToList();

        Assert.True(found.Count == 0, "merge-conflict markers:" + Environment.NewLine + string.Join(Environment.NewLine, found));
    }

    [Fact]
    public void The_scan_reads_the_docs_and_the_sources()
    {
        // Guards the test above against a scan that reads nothing (a moved root, a skipped folder too many).
        var files = TextFiles(new DirectoryInfo(RepositoryLayout.Root)).Select(f => Path.GetRelativePath(RepositoryLayout.Root, f.FullName)).ToList();
        Assert.Contains(Path.Combine("docs", "filter-api.md"), files);
        Assert.Contains("README.md", files);
        Assert.Contains(Path.Combine("FilterKafkaProcessor", "Program.cs"), files);
    }

    private static IEnumerable<FileInfo> TextFiles(DirectoryInfo directory)
    {
        foreach (var file in directory.EnumerateFiles())
        {
            if (Extensions.Contains(file.Extension, StringComparer.OrdinalIgnoreCase))
            {
                yield return file;
            }
        }

        foreach (var child in directory.EnumerateDirectories())
        {
            if (!SkippedFolders.Contains(child.Name, StringComparer.OrdinalIgnoreCase) && !child.Name.StartsWith('.'))
            {
                foreach (var file in TextFiles(child))
                {
                    yield return file;
                }
            }
        }
    }
}
