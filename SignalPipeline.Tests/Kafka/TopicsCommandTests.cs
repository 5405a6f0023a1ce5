using Microsoft.Extensions.Configuration;
using SignalPipeline.Cli.Kafka;
using SignalPipeline.Cli.Topics;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary><c>signal-pipeline kafka topics ensure|check</c>: the plan ensure follows, and check against a broker.</summary>
public sealed class TopicsCommandTests
{
    private static readonly IReadOnlyList<TopicRequirement> All = [.. PipelineTopics.All.Select(TopicRequirement.Default)];

    private static ObservedTopic Topic(TopicDefinition definition, int partitions, bool compacted = true) =>
        new(definition.Name, partitions, definition.IsCompacted ? new Dictionary<string, string> { ["cleanup.policy"] = compacted ? "compact" : "delete" } : null);

    [Fact]
    public void OnAnEmptyClusterEveryTopicIsCreatedWithItsConfigs()
    {
        var plan = TopicsPlan.For(All, new Dictionary<string, ObservedTopic>(), partitions: 20, replicationFactor: 3);

        Assert.Empty(plan.Problems);
        Assert.Equal(PipelineTopics.All.Select(t => t.Name), plan.Create.Select(c => c.Topic.Name));
        Assert.All(plan.Create, c => Assert.Equal((20, (short)3), (c.Partitions, c.ReplicationFactor)));
        Assert.Equal("compact", plan.Create.Single(c => c.Topic.Definition.Role == TopicRole.Changelog).Topic.Definition.Configs["cleanup.policy"]);
    }

    [Fact]
    public void MissingTopicsAreCoPartitionedWithALargerExistingInput()
    {
        var plan = TopicsPlan.For(All, new Dictionary<string, ObservedTopic> { ["sample-input"] = Topic(PipelineTopics.Input, 32) }, partitions: 20, replicationFactor: 1);

        Assert.Empty(plan.Problems);
        Assert.Equal(PipelineTopics.All.Count - 1, plan.Create.Count);
        Assert.All(plan.Create, c => Assert.Equal(32, c.Partitions));
    }

    [Fact]
    public void AnExistingChangelogThatIsNotCompactedRefusesAndCreatesNothing()
    {
        var plan = TopicsPlan.For(All, new Dictionary<string, ObservedTopic>
        {
            ["filter-kafka-processor-state-changelog"] = Topic(PipelineTopics.Changelog, 20, compacted: false),
        }, partitions: 20, replicationFactor: 1);

        Assert.Empty(plan.Create);
        Assert.Contains(plan.Problems, p => p.Message.Contains("is not compacted", StringComparison.Ordinal));
    }

    [Fact]
    public void AnExistingInputWithTooFewPartitionsRefuses()
    {
        var plan = TopicsPlan.For(All, new Dictionary<string, ObservedTopic> { ["sample-input"] = Topic(PipelineTopics.Input, 4) }, partitions: 20, replicationFactor: 1);

        Assert.Empty(plan.Create);
        Assert.Contains("'sample-input' has 4 partitions, fewer than 20", Assert.Single(plan.Problems).Message);
    }

    [Fact]
    public void AnExistingChangelogWithFewerPartitionsThanTheInputRefuses()
    {
        var plan = TopicsPlan.For(All, new Dictionary<string, ObservedTopic>
        {
            ["sample-input"] = Topic(PipelineTopics.Input, 24),
            ["filter-kafka-processor-state-changelog"] = Topic(PipelineTopics.Changelog, 20),
        }, partitions: 20, replicationFactor: 1);

        Assert.Empty(plan.Create);
        Assert.Contains("fewer than the input", Assert.Single(plan.Problems).Message);
    }

    [Fact]
    public async Task WithoutABrokerAddressItNamesTheSettingAndExitsTwo()
    {
        var error = new StringWriter();
        var exit = await TopicsCommand.RunAsync(new ConfigurationBuilder().Build(), create: true, 20, null, TimeSpan.FromSeconds(1), new StringWriter(), error);

        Assert.Equal(2, exit);
        Assert.Contains("KAFKA_BROKERS", error.ToString());
        Assert.Contains("Or pass --bootstrap host:port.", error.ToString());
    }

    [Fact]
    public async Task ALibrdkafkaSettingItRefusesIsNamedWithExitTwo()
    {
        var error = new StringWriter();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["KAFKA_BROKERS"] = "localhost:1",
            ["Kafka:Client:security.protocol"] = "bogus",
        }).Build();

        var exit = await TopicsCommand.RunAsync(configuration, create: false, 20, null, TimeSpan.FromSeconds(1), new StringWriter(), error);

        Assert.True(exit == 2, error.ToString());
        Assert.Contains("error: Kafka__Client__security.protocol: Invalid value \"bogus\"", error.ToString());
    }

    [Theory]
    [InlineData(0, null, "--timeout must be 1 to 300 seconds, not 0.")]
    [InlineData(301, null, "--timeout must be 1 to 300 seconds, not 301.")]
    [InlineData(30, (short)0, "--replication-factor must be 1 or more, not 0.")]
    public async Task ABadTimeoutOrReplicationFactorIsNamedWithExitTwoBeforeAnyClientIsMade(int seconds, short? replicas, string message)
    {
        var error = new StringWriter();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["KAFKA_BROKERS"] = "localhost:1" }).Build();
        var exit = await TopicsCommand.RunAsync(configuration, create: true, 20, replicas, TimeSpan.FromSeconds(seconds), new StringWriter(), error);

        Assert.Equal(2, exit);
        Assert.Contains(message, error.ToString());
    }
}

/// <summary>
/// <c>kafka topics ensure|check</c> against librdkafka's own mock cluster (<c>test.mock.num.brokers</c>, in process) or the dev broker's (<c>MockKafkaCluster</c>):
/// Integration, as docs/testing.md counts a broker of any kind (<c>TestCategoryTests</c>).
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class TopicsCommandBrokerTests
{
    /// <summary>A librdkafka mock cluster of the admin client's own (no topics): the Kafka:Client section reaches the CLI's client.</summary>
    private static IConfiguration OwnMockCluster(params (string Key, string Value)[] more) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>(
            [new("KAFKA_BROKERS", "127.0.0.1:1"), new("Kafka:Client:test.mock.num.brokers", "1"), .. more.Select(m => new KeyValuePair<string, string?>(m.Key, m.Value))]))
            .Build();

    [Fact]
    public async Task CheckOnAClusterWithoutTheTopicsNamesThemAndTheFixAndExitsOne()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = await TopicsCommand.RunAsync(OwnMockCluster(("OUTPUT_TOPIC", "renamed-output")), create: false, 20, null, TimeSpan.FromSeconds(10), output, error)
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, exit);
        Assert.Contains("renamed-output\tOUTPUT_TOPIC\tmissing", output.ToString());
        Assert.Contains("topic 'sample-input' (INPUT_TOPIC) does not exist", error.ToString());
        Assert.Contains("topic 'renamed-output' (OUTPUT_TOPIC) does not exist", error.ToString());
        Assert.Contains("signal-pipeline kafka topics ensure", error.ToString());
    }

    [Fact]
    public async Task EnsureOnTheDevBrokerSaysAtOnceThatItCreatesNoTopicAndWhatToDoInstead()
    {
        // The dev broker's cluster (MockKafkaCluster) has no CreateTopics. It named controller 0, a broker it does not
        // have, so ensure waited out --timeout for it ("Failed while waiting for controller", Local_TimedOut); it names
        // broker 1 now, and the client refuses the call at once. --timeout is 300 s here, the test waits 60.
        using var cluster = SignalPipeline.DevBroker.MockKafkaCluster.Start(1);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["KAFKA_BROKERS"] = cluster.BootstrapServers }).Build();
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = await TopicsCommand.RunAsync(configuration, create: true, 8, null, TimeSpan.FromSeconds(300), output, error)
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(exit == 1, $"exit {exit}\n{output}\n{error}");
        Assert.All(PipelineTopics.All, t => Assert.Contains($"{t.Name}\t{t.Setting}\tmissing", output.ToString()));
        Assert.StartsWith($"error: Kafka at {cluster.BootstrapServers} answered but did not create 'sample-input', ", error.ToString());
        Assert.Contains("not supported by broker", error.ToString());
        Assert.Contains("(Local_UnsupportedFeature)", error.ToString());
        Assert.Contains("add these there and restart it", error.ToString());
    }

    [Fact]
    public async Task EnsureOnAClusterWhoseControllerDoesNotAnswerSaysItAnsweredAndToCheckTheController()
    {
        // librdkafka's client-side mock (test.mock.num.brokers) names controller 0, a broker it does not have: CreateTopics
        // waits for it and fails "Failed while waiting for controller" (Local_TimedOut). Until 2026-12-05 that read
        // "Kafka at ... did not answer ... Check --bootstrap", about a cluster that had just answered.
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = await TopicsCommand.RunAsync(OwnMockCluster(), create: true, 8, null, TimeSpan.FromSeconds(2), output, error)
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, exit);
        Assert.DoesNotContain("did not answer", error.ToString());
        Assert.StartsWith("error: Kafka at 127.0.0.1:1 answered but did not create 'sample-input', ", error.ToString());
        Assert.Contains("Failed while waiting for controller", error.ToString());
        Assert.Contains("check that its controller is up, or raise --timeout", error.ToString());
    }

}
