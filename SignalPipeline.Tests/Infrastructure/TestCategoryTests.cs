using System.Text.RegularExpressions;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// docs/testing.md: "A test class without a trait must be a unit test: no broker, no process, no AppHost", since
/// <c>scripts/test.sh --fast</c> runs exactly those. Until 2026-12-06 three untraited classes started librdkafka's mock
/// cluster (<c>test.mock.num.brokers</c>), which the same table counts as Integration. This reads each test class's source
/// for the ways the suite reaches a broker, a process or the AppHost, and requires a category trait where one is used.
/// </summary>
public sealed partial class TestCategoryTests
{
    private static readonly string[] NeedsACategory =
    [
        "test.mock.num.brokers", "MockKafkaCluster", "MockBrokerFixture", "ProcessorTestKit", "DevBrokerProcess", "ExternalProcess.",
        "Kustomize.RenderAsync", "AppHostFixture", "DistributedApplicationTestingBuilder", "TestAppHost.",
    ];

    [Fact]
    public void A_test_class_that_reaches_a_broker_a_process_or_the_AppHost_has_a_category_trait()
    {
        var untraited = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(RepositoryLayout.Root, "SignalPipeline.Tests"), "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")))
        {
            var text = File.ReadAllText(file).ReplaceLineEndings("\n");
            var classes = ClassDeclaration().Matches(text);
            for (var i = 0; i < classes.Count; i++)
            {
                // A class's part of the file: from the blank line before its comment and attributes to the next class.
                var start = Math.Max(0, text.LastIndexOf("\n\n", classes[i].Index, StringComparison.Ordinal));
                var end = i + 1 < classes.Count ? classes[i + 1].Index : text.Length;
                var part = text[start..end];
                var isTestClass = part.Contains("[Fact", StringComparison.Ordinal) || part.Contains("[Theory", StringComparison.Ordinal);
                if (isTestClass && !part.Contains("TestCategory.", StringComparison.Ordinal)
                    && NeedsACategory.Where(marker => part.Contains(marker, StringComparison.Ordinal)).ToList() is { Count: > 0 } used)
                {
                    untraited.Add($"{Path.GetRelativePath(RepositoryLayout.Root, file)}: {classes[i].Groups[1].Value} uses {string.Join(", ", used)}");
                }
            }
        }

        Assert.True(untraited.Count == 0, "Put [Trait(\"Category\", TestCategory.Integration)] (or AppHost) on:\n" + string.Join("\n", untraited));
    }

    [GeneratedRegex(@"^(?:public |internal )?(?:sealed |static |abstract )*(?:partial )?class (\w+)", RegexOptions.Multiline)]
    private static partial Regex ClassDeclaration();
}
