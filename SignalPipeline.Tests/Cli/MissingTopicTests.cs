using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

/// <summary>
/// The verbs that read a topic refuse one that does not exist (exit 2, naming it) and leave the cluster without it: the
/// dev broker, like a real one with <c>auto.create.topics.enable=true</c>, creates a topic a metadata request names.
/// </summary>
[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class MissingTopicTests(MockBrokerFixture broker) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("missing-topic-").FullName;

    [Theory]
    [InlineData("kafka", "tail", "{0}", "-e")]
    [InlineData("kafka", "tail", "{0}", "--from-beginning", "--count", "1", "--timeout", "5")]
    [InlineData("kafka", "lag", "--input-topic", "{0}")]
    [InlineData("kafka", "lag", "--changelog-topic", "{0}")]
    [InlineData("dlq", "replay", "--dlq-topic", "{0}", "--dry-run")]
    [InlineData("dlq", "replay", "--dlq-topic", "{0}")]
    [InlineData("streams", "config", "--topic", "{0}")]
    public async Task AVerbReadingATopicThatDoesNotExistExitsTwoNamingItAndCreatesNothing(params string[] verb)
    {
        var topic = $"nosuch-{Guid.NewGuid():N}";

        string[] args = [.. verb.Select(a => a.Replace("{0}", topic, StringComparison.Ordinal)), "--bootstrap", broker.Bootstrap];
        var result = verb[0] == "streams" ? await StreamsCommandTests.Run(args) : await CliRunner.RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"error: topic '{topic}' does not exist on {broker.Bootstrap}.", result.Error);
        Assert.False(Exists(topic), $"{topic} was created");
    }

    [Fact]
    public async Task TheWavSampleRateLookUpOnAnInputTopicThatDoesNotExistExitsTwoNamingItAndCreatesNothing()
    {
        var output = broker.NewTopic("output");
        var input = $"nosuch-{Guid.NewGuid():N}";
        var time = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        broker.Produce(output, SampleCodec.ToMessage(new FilteredChunk("s1", 0, "kalman", new double[] { 1 }, new double[] { 0.5 }, time, time + 1)));

        var result = await CliRunner.RunAsync("kafka", "tail", output, "--bootstrap", broker.Bootstrap, "--stream", "s1", "--from-beginning",
            "--wav", Path.Combine(_folder, "out.wav"), "--input-topic", input, "--count", "1", "--timeout", "30");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"error: topic '{input}' does not exist on {broker.Bootstrap}.", result.Error);
        Assert.False(Exists(input), $"{input} was created");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private bool Exists(string topic)
    {
        using var admin = broker.Factory.CreateAdminClient();
        return admin.GetMetadata(TimeSpan.FromSeconds(30)).Topics.Any(t => t.Topic == topic);
    }
}
