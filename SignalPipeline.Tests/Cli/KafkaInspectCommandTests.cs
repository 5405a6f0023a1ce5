using System.Buffers.Binary;
using System.CommandLine;
using System.Text;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.DevBroker;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class KafkaInspectCommandTests(MockBrokerFixture broker)
{
    [Fact]
    public async Task LagUsesTheNewestPartitionCheckpointOfTheChangelogAndSaysSo()
    {
        var (input, changelog) = InputWithTenRecordsInPartitionOne();

        broker.Produce(new TopicPartition(input, 2), new Message<byte[], byte[]> { Key = [], Value = [1] });
        broker.Produce(new TopicPartition(changelog, 1), new Message<byte[], byte[]> { Key = [], Value = Checkpoint(3) });
        broker.Produce(new TopicPartition(changelog, 1), new Message<byte[], byte[]> { Key = "stream-a"u8.ToArray(), Value = [9, 9] });
        broker.Produce(new TopicPartition(changelog, 1), new Message<byte[], byte[]> { Key = [], Value = Checkpoint(7) });
        broker.Produce(new TopicPartition(changelog, 2), new Message<byte[], byte[]> { Key = [], Value = Checkpoint(1) });
        broker.Produce(new TopicPartition(changelog, 2), new Message<byte[], byte[]> { Key = [], Value = null! }); // tombstone

        var result = await CliRunner.RunAsync("kafka", "lag", "--bootstrap", broker.Bootstrap, "--input-topic", input, "--changelog-topic", changelog,
            "--group", $"nobody-{Guid.NewGuid():N}");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"\n1\s+0\s+10\s+-\s+7\s+changelog\s+3\n", result.Output);
        Assert.Matches(@"\n2\s+0\s+1\s+-\s+-\s+none\s+1\n", result.Output);
        Assert.Contains("Total lag 4 records (position from: changelog 1, none 3).", result.Output);

        var limited = await CliRunner.RunAsync("kafka", "lag", "--bootstrap", broker.Bootstrap, "--input-topic", input, "--changelog-topic", changelog, "--max-lag", "3");
        Assert.Equal(1, limited.ExitCode);
        Assert.Equal("error: the total lag, 4 records, is above --max-lag 3.", limited.Error.Trim());
        var within = await CliRunner.RunAsync("kafka", "lag", "--bootstrap", broker.Bootstrap, "--input-topic", input, "--changelog-topic", changelog, "--max-lag", "4");
        Assert.True(within.ExitCode == 0 && within.Error.Trim().Length == 0, within.ToString());
    }

    [Fact]
    public async Task LagReadingAChangelogLongerThanTheNoProgressLimitCompletesWhileTheClusterKeepsAnswering()
    {
        var (input, changelog) = InputWithTenRecordsInPartitionOne();

        // As on a deployment of many streams: a checkpoint per stream, the partition checkpoint after them.
        for (var stream = 0; stream < 30; stream++)
        {
            broker.Produce(new TopicPartition(changelog, 1), new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes($"stream-{stream}"), Value = [9, 9] });
        }

        broker.Produce(new TopicPartition(changelog, 1), new Message<byte[], byte[]> { Key = [], Value = Checkpoint(7) });

        // The dev broker returns one batch per partition per fetch and each record is a batch of its own: reading the
        // changelog takes 31 round trips, longer in total than the limit, each well inside it.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        CliRunner.Result slow;
        broker.Cluster.SetBrokerRtt(MockKafkaCluster.AllBrokers, TimeSpan.FromMilliseconds(150));
        try
        {
            slow = await Lag(TimeSpan.FromSeconds(2), input, changelog);
        }
        finally
        {
            broker.Cluster.ClearFaults();
        }

        Assert.True(slow.ExitCode == 0, slow.ToString());
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(4), $"the verb took {clock.Elapsed}: the case needs it longer than the limit");
        Assert.Matches(@"\n1\s+0\s+10\s+-\s+7\s+changelog\s+3\n", slow.Output);
        Assert.Contains("Total lag 3 records (position from: changelog 1, none 3).", slow.Output);
    }

    [Fact]
    public async Task LagIsGivenUpWhenTheChangelogGivesNothingForTheNoProgressLimit()
    {
        var changelog = broker.NewTopic("changelog");
        var input = broker.NewTopic("input");
        broker.Produce(new TopicPartition(changelog, 2), new Message<byte[], byte[]> { Key = [], Value = Checkpoint(1) });

        CliRunner.Result stuck;
        broker.Cluster.SetPartitionLeader(changelog, 2, MockKafkaCluster.AllBrokers);
        try
        {
            stuck = await Lag(TimeSpan.FromSeconds(2), input, changelog);
        }
        finally
        {
            broker.Cluster.SetPartitionLeader(changelog, 2, 1);
        }

        Assert.True(stuck.ExitCode == 1, stuck.ToString());
        Assert.Contains($"error: reading {changelog} made no progress for 2 s: no record and no partition end came (partitions not read to their end: 2).", stuck.Error);
        Assert.Empty(stuck.Output);
    }

    [Theory]
    [InlineData("lag")]
    [InlineData("streams config")]
    public async Task AVerbInterruptedWhileReadingATopicToItsEndStopsThereWithExitCode130(string verb)
    {
        // Ctrl+C went unnoticed: the verb read on (here until its 30 s no-progress limit, exit 1), or was ended by
        // System.CommandLine 2 s after the signal.
        var changelog = broker.NewTopic("changelog");
        var input = broker.NewTopic("input");
        broker.Produce(new TopicPartition(changelog, 2), new Message<byte[], byte[]> { Key = [], Value = Checkpoint(1) });
        Command command = verb == "lag" ? LagCommand.Create() : SignalPipeline.Cli.Streams.StreamsCommand.Create();
        string[] args = verb == "lag"
            ? ["lag", "--bootstrap", broker.Bootstrap, "--input-topic", input, "--changelog-topic", changelog, "--group", $"nobody-{Guid.NewGuid():N}"]
            : ["streams", "config", "--bootstrap", broker.Bootstrap, "--topic", changelog];
        using var interrupt = new CancellationTokenSource();
        CliRunner.Result interrupted;
        // A partition without a leader never reaches its end: the reading is still going when Ctrl+C comes.
        broker.Cluster.SetPartitionLeader(changelog, 2, MockKafkaCluster.AllBrokers);
        broker.Cluster.StartRequestTracking();
        broker.Cluster.ClearTrackedRequests();
        try
        {
            var run = CliRunner.RunAsync(command, interrupt.Token, args);
            await Poll.UntilAsync(() => broker.Cluster.TrackedRequestCount(KafkaApi.Fetch) > 0, TimeSpan.FromSeconds(60), () => $"{verb} reading {changelog}");
            await interrupt.CancelAsync();
            interrupted = await run.WaitAsync(TimeSpan.FromSeconds(90));
        }
        finally
        {
            broker.Cluster.StopRequestTracking();
            broker.Cluster.SetPartitionLeader(changelog, 2, 1);
        }

        Assert.True(interrupted.ExitCode == ExitCodes.Interrupted, interrupted.ToString());
        Assert.Equal("interrupted", interrupted.Error.Trim());
        Assert.Empty(interrupted.Output);
    }

    [Fact]
    public async Task TopicsListNamesAPartitionWithoutALeaderAndListsTheRest()
    {
        // It asked the leaderless partition for its offsets, waited 30 s and said the cluster did not answer (exit 1).
        var topic = broker.NewTopic("leaderless");
        broker.Produce(new TopicPartition(topic, 0), new Message<byte[], byte[]> { Key = [], Value = [1] });
        CliRunner.Result listed, partitions;
        broker.Cluster.SetPartitionLeader(topic, 3, MockKafkaCluster.AllBrokers);
        try
        {
            listed = await CliRunner.RunAsync("kafka", "topics", "list", "--bootstrap", broker.Bootstrap, topic);
            partitions = await CliRunner.RunAsync("kafka", "topics", "list", "--bootstrap", broker.Bootstrap, "--partitions", topic);
        }
        finally
        {
            broker.Cluster.SetPartitionLeader(topic, 3, 1);
        }

        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.Matches($@"\n{topic}\s+{MockBrokerFixture.Partitions}\s+1\s+\?\s", listed.Output);
        Assert.Contains($"warning: {topic} partition 3 has no leader (replicas ", listed.Error);
        Assert.DoesNotContain("did not answer", listed.Error);
        Assert.True(partitions.ExitCode == 0, partitions.ToString());
        Assert.Matches($@"\n{topic}\s+0\s+1\s+\S+\s+0\s+1\n", partitions.Output);
        Assert.Matches($@"\n{topic}\s+3\s+none\s+\S*\s+\?\s+\?\n", partitions.Output);
    }

    [Fact]
    public async Task TopicsListShowsPartitionsAndRecordsKept()
    {
        var topic = broker.NewTopic("listed");
        broker.Produce(topic, SampleCodec.ToMessage(new SampleChunk("x", 0, new double[] { 1 })));

        var result = await CliRunner.RunAsync("kafka", "topics", "list", "--bootstrap", broker.Bootstrap, topic, "sample-input");
        var partitions = await CliRunner.RunAsync("kafka", "topics", "list", "--bootstrap", broker.Bootstrap, "--partitions", topic);
        var missing = await CliRunner.RunAsync("kafka", "topics", "list", "--bootstrap", broker.Bootstrap, "no-such-topic");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches($@"\n{topic}\s+{MockBrokerFixture.Partitions}\s+1\s+1\s", result.Output);
        Assert.Contains("sample-input", result.Output);
        Assert.Equal(MockBrokerFixture.Partitions, partitions.Output.Split('\n').Count(l => l.StartsWith(topic, StringComparison.Ordinal)));
        Assert.Equal(2, missing.ExitCode);
        // The phrase every verb that looks a topic up uses (docs/operations.md; until 2026-12-05 this one said "no topic X on ...").
        Assert.Contains($"error: topic 'no-such-topic' does not exist on {broker.Bootstrap}.", missing.Error);
    }

    [Fact]
    public async Task TopicsListRecordsCountsATransactionsCommitMarker()
    {
        var topic = broker.NewTopic("transactional");
        using (var producer = broker.Factory.CreateProducer<byte[], byte[]>(config => config.TransactionalId = $"tx-{Guid.NewGuid():N}"))
        {
            producer.InitTransactions(TimeSpan.FromSeconds(30));
            producer.BeginTransaction();
            producer.Produce(new TopicPartition(topic, 0), new Message<byte[], byte[]> { Key = [], Value = [1] });
            producer.CommitTransaction(TimeSpan.FromSeconds(30));
        }

        var result = await CliRunner.RunAsync("kafka", "topics", "list", "--bootstrap", broker.Bootstrap, topic);

        // One record and its transaction's commit marker (docs/operations.md, "kafka topics list").
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches($@"\n{topic}\s+{MockBrokerFixture.Partitions}\s+1\s+2\s", result.Output);
    }

    [Fact]
    public async Task GroupsShowsCommittedOffsetsAgainstTheEnd()
    {
        var topic = broker.NewTopic("grouped");
        var group = $"group-{Guid.NewGuid():N}";
        for (var i = 0; i < 5; i++)
        {
            broker.Produce(new TopicPartition(topic, 3), new Message<byte[], byte[]> { Key = [], Value = [1] });
        }

        using (var consumer = broker.Factory.CreateConsumer<byte[], byte[]>(group, config => config.EnableAutoCommit = false))
        {
            consumer.Commit([new TopicPartitionOffset(topic, 3, 2)]);
        }

        var result = await CliRunner.RunAsync("kafka", "groups", "--bootstrap", broker.Bootstrap, "--group", group, "--group", "filter-kafka-processor");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches($@"\n{group}\s+{topic}\s+3\s+2\s+5\s+3\n", result.Output);
        Assert.Contains("filter-kafka-processor: no committed offsets (the dev broker does not store transactional commits", result.Output);
    }

    [Theory]
    [InlineData("groups")]
    [InlineData("lag")]
    public async Task AnEmptyGroupIsBadInputNamingTheOption(string verb)
    {
        var result = await CliRunner.RunAsync("kafka", verb, "--bootstrap", broker.Bootstrap, "--group", "");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("error: --group must not be empty.", result.Error.Trim());
    }

    [Fact]
    public async Task NoBootstrapIsBadInputNamingTheSetting()
    {
        Assert.Null(Environment.GetEnvironmentVariable("KAFKA_BROKERS"));
        var result = await CliRunner.RunAsync("kafka", "lag");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("KAFKA_BROKERS", result.Error);
        Assert.Contains("--bootstrap", result.Error);
    }

    /// <summary>An input topic with 10 records in partition 1 and its (empty) changelog.</summary>
    private (string Input, string Changelog) InputWithTenRecordsInPartitionOne()
    {
        var changelog = broker.NewTopic("changelog");
        var input = broker.NewTopic("input");
        for (var i = 0; i < 10; i++)
        {
            broker.Produce(new TopicPartition(input, 1), new Message<byte[], byte[]> { Key = [], Value = [1] });
        }

        return (input, changelog);
    }

    /// <summary><c>kafka lag</c> with another no-progress limit than the shipped one.</summary>
    private Task<CliRunner.Result> Lag(TimeSpan noProgress, string input, string changelog)
        => CliRunner.RunAsync(LagCommand.Create(noProgress), "lag", "--bootstrap", broker.Bootstrap, "--input-topic", input, "--changelog-topic", changelog,
            "--group", $"nobody-{Guid.NewGuid():N}");

    private static byte[] Checkpoint(long nextOffset)
    {
        var value = new byte[17];
        value[0] = 1;
        BinaryPrimitives.WriteInt64LittleEndian(value.AsSpan(1), nextOffset);
        return value;
    }
}
