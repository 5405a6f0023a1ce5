using System.Text;
using Confluent.Kafka;
using SignalPipeline.Cli.Operations;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;

namespace SignalPipeline.Tests.Cli;

[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class DlqReplayCommandTests(MockBrokerFixture broker)
{
    [Fact]
    public async Task ReplaysMatchingDeadLettersToTheirSourceOnceWithTheOriginalHeaders()
    {
        var dlq = broker.NewTopic("dlq");
        var input = broker.NewTopic("input");
        DeadLetter(dlq, input, "s1", DecodeErrorCode.TooManySamples, seq: 4);
        DeadLetter(dlq, input, "s2", DecodeErrorCode.TooManySamples, seq: 0);
        DeadLetter(dlq, input, "s1", DecodeErrorCode.MalformedJson, seq: 5);

        var dry = await Replay(dlq, "--reason", "too-many-samples", "--stream", "s1", "--dry-run");
        Assert.Contains("Would replay 1 of 3 dead letters", dry.Output);
        Assert.Empty(broker.ReadAll(input, "s1"));

        var first = await Replay(dlq, "--reason", "too-many-samples", "--stream", "s1");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("Replayed 1 of 3 dead letters", first.Output);
        var replayed = Assert.Single(broker.ReadAll(input, "s1"));
        var chunk = MockBrokerFixture.DecodeInput(replayed);
        Assert.Equal((4L, SampleFormat.Float64), (chunk.Seq, chunk.Format));
        Assert.DoesNotContain(replayed.Message.Headers, h => h.Key.StartsWith("dlq-error", StringComparison.Ordinal) || h.Key == "dlq-reason");
        Assert.StartsWith($"{dlq}/", Encoding.UTF8.GetString(replayed.Message.Headers.GetLastBytes("dlq-replayed-from")));

        var again = await Replay(dlq, "--reason", "too-many-samples");
        Assert.Contains("Replayed 1 of 3 dead letters in " + dlq + " (1 not matching --reason/--stream, 1 replayed before).", again.Output);
        Assert.Single(broker.ReadAll(input, "s2"));

        var rest = await Replay(dlq);
        Assert.Contains("Replayed 1 of 3 dead letters in " + dlq + " (0 not matching --reason/--stream, 2 replayed before).", rest.Output);
        Assert.Equal(2, broker.ReadAll(input, "s1").Count);

        Assert.Equal(3, await ReplayMarkersAsync(dlq));
    }

    [Fact]
    public async Task AReasonNoDeadLetterHasIsNamedWithTheCodesTheTopicHas()
    {
        var dlq = broker.NewTopic("dlq");
        var input = broker.NewTopic("input");
        DeadLetter(dlq, input, "s1", DecodeErrorCode.TooManySamples, seq: 0);
        DeadLetter(dlq, input, "s1", DecodeErrorCode.MalformedJson, seq: 1);

        var typo = await Replay(dlq, "--reason", "too-many-sample", "--reason", "malformed-json", "--dry-run");

        Assert.True(typo.ExitCode == 0, typo.ToString());
        Assert.Contains("Would replay 1 of 2 dead letters", typo.Output);
        Assert.Contains($"warning: no dead letter in {dlq} has dlq-error-code 'too-many-sample' (its codes: malformed-json, too-many-samples).", typo.Error);
        Assert.DoesNotContain("'malformed-json'", typo.Error);
    }

    [Fact]
    public async Task ADeadLetterWithoutItsSourceTopicNeedsToAndSendsNothingElse()
    {
        var dlq = broker.NewTopic("dlq");
        var input = broker.NewTopic("input");
        // Written by some other tool: the dlq-* headers without dlq-source-topic.
        var letter = SampleCodec.ToMessage(new SampleChunk("s9", 0, new double[] { 1, 2 }) { Format = SampleFormat.Float64 });
        letter.Headers.Add(MessageHeaders.DeadLetterErrorCode, "malformed-json"u8.ToArray());
        broker.Produce(dlq, letter);

        var refused = await Replay(dlq);

        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains($"has no {MessageHeaders.DeadLetterSourceTopic} header: pass --to TOPIC.", refused.Error);
        Assert.Empty(broker.ReadAll(input, "s9"));

        var sent = await Replay(dlq, "--to", input);
        Assert.True(sent.ExitCode == 0, sent.ToString());
        Assert.Single(broker.ReadAll(input, "s9"));
    }

    [Fact]
    public async Task ADeadLetterWhoseValueWasLeftOutIsNamedAndNeitherReplayedNorMarked()
    {
        var dlq = broker.NewTopic("dlq");
        var input = broker.NewTopic("input");
        DeadLetter(dlq, input, "s1", DecodeErrorCode.TooManySamples, seq: 0);
        // As the processor writes a letter that would not fit one message (docs/messages.md): the value left out (null).
        var headers = MessageHeaders.AddDeadLetter(new Headers(), "too-many-samples", "test (value of 1048576 bytes left out: too large for one message)",
            new TopicPartitionOffset(input, 1, 20));
        broker.Produce(dlq, new Message<byte[], byte[]> { Key = "s2"u8.ToArray(), Value = null!, Headers = headers });

        var dry = await Replay(dlq, "--dry-run");
        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains("Would replay 1 of 2 dead letters", dry.Output);
        Assert.DoesNotContain("key=s2", dry.Output);
        Assert.Contains("key=s2", dry.Error);

        var first = await Replay(dlq);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains($"Replayed 1 of 2 dead letters in {dlq} (0 not matching --reason/--stream, 0 replayed before, 1 without a value).", first.Output);
        Assert.Matches($@"warning: {dlq}/\d+@\d+ key=s2 too-many-samples: not replayed, it has no value", first.Error);
        Assert.Empty(broker.ReadAll(input, "s2"));
        Assert.Single(broker.ReadAll(input, "s1"));

        // Not marked replayed: a later replay names it again rather than counting it as replayed before.
        var again = await Replay(dlq);
        Assert.Contains($"Replayed 0 of 2 dead letters in {dlq} (0 not matching --reason/--stream, 1 replayed before, 1 without a value).", again.Output);
        Assert.Contains("key=s2", again.Error);
        Assert.Equal(1, await ReplayMarkersAsync(dlq));
    }

    [Fact]
    public async Task TheListingEscapesControlCharactersOfKeysAndCodes()
    {
        var dlq = broker.NewTopic("dlq");
        var input = broker.NewTopic("input");
        var letter = SampleCodec.ToMessage(new SampleChunk("s\u001b[2J", 0, new double[] { 1 }) { Format = SampleFormat.Float64 });
        MessageHeaders.AddDeadLetter(letter.Headers, "bad\ncode\u001b[0m", "test", new TopicPartitionOffset(input, 0, 1));
        broker.Produce(dlq, letter);

        var dry = await Replay(dlq, "--reason", "other", "--reason", "bad\ncode\u001b[0m", "--dry-run");

        Assert.True(dry.ExitCode == 0, dry.ToString());
        Assert.Contains(@"key=s\x1b[2J  bad\ncode\x1b[0m  -> " + input, dry.Output);
        Assert.Contains(@"(its codes: bad\ncode\x1b[0m).", dry.Error);
        Assert.DoesNotContain('\u001b', dry.Output + dry.Error);
    }

    [Fact]
    public async Task MoreLettersThanOneTransactionHoldsGoInSeveralTransactionsEachReplayedAndMarkedOnce()
    {
        var (dlq, input) = DeadLettersOfOneStream(8);

        var commits = new List<int>();
        var first = await Replay(Limits(transactionLetters: 3) with { AfterCommit = commits.Add }, dlq);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal([3, 6, 8], commits);
        Assert.Contains($"Replayed 8 of 8 dead letters in {dlq} (0 not matching --reason/--stream, 0 replayed before).", first.Output);
        Assert.Equal(8, ListedReplays(first.Output));
        Assert.Equal(Seqs(8), ReplayedSeqs(input));
        Assert.Equal(8, await ReplayMarkersAsync(dlq));

        var again = await Replay(Limits(transactionLetters: 3), dlq);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains($"Replayed 0 of 8 dead letters in {dlq} (0 not matching --reason/--stream, 8 replayed before).", again.Output);
        Assert.Equal(8, broker.ReadAll(input, "s1").Count);
        Assert.Equal(8, await ReplayMarkersAsync(dlq));
    }

    [Fact]
    public async Task NoTransactionHoldsMoreKeyAndValueBytesThanTheLimitAndALargerLetterGoesAlone()
    {
        var (dlq, input) = DeadLettersOfOneStream(8);
        // Every letter of DeadLettersOfOneStream has the same key and value sizes (a float64 chunk of 3 samples).
        var letter = SampleCodec.ToMessage(new SampleChunk("s1", 0, new double[] { 1, 2, 3 }) { Format = SampleFormat.Float64 });
        var bytes = letter.Key.Length + letter.Value.Length;

        // Room for two and a half letters: two go in each transaction (a third would pass the limit).
        var commits = new List<int>();
        var first = await Replay(Limits() with { TransactionBytes = (2 * bytes) + (bytes / 2), AfterCommit = commits.Add }, dlq);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal([2, 4, 6, 8], commits);
        Assert.Equal(Seqs(8), ReplayedSeqs(input));

        // Letters larger than the limit by themselves: each goes alone.
        var (largeDlq, largeInput) = DeadLettersOfOneStream(3);
        var alone = new List<int>();
        var large = await Replay(Limits() with { TransactionBytes = bytes / 2, AfterCommit = alone.Add }, largeDlq);

        Assert.True(large.ExitCode == 0, large.ToString());
        Assert.Equal([1, 2, 3], alone);
        Assert.Equal(Seqs(3), ReplayedSeqs(largeInput));
    }

    [Fact]
    public async Task AReplayThatFailsAfterItsFirstTransactionLeavesThoseLettersReplayedAndMarkedAndARerunReplaysTheRest()
    {
        var (dlq, input) = DeadLettersOfOneStream(8);

        CliRunner.Result failed;
        try
        {
            // After the first commit another replay takes the transactional id over: a cluster refuses this one's next
            // transaction (PRODUCER_FENCED on AddPartitionsToTxn, fatal Local_Fenced; docs/kafka.md "Fault injection").
            failed = await Replay(Limits(transactionLetters: 3) with
            {
                AfterCommit = _ => broker.Cluster.PushRequestErrors(KafkaApi.AddPartitionsToTxn, ErrorCode.ProducerFenced),
            }, dlq);
        }
        finally
        {
            broker.Cluster.ClearFaults();
        }

        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Contains("3 dead letters were replayed and marked before the error below", failed.Error);
        Assert.Contains($"error: Kafka at {broker.Bootstrap}: ", failed.Error);
        Assert.Contains("(Local_Fenced)", failed.Error);
        await AssertStoppedAfterThreeAndARerunReplaysTheRest(failed, dlq, input);
    }

    [Theory]
    [InlineData(KafkaApi.AddPartitionsToTxn, ErrorCode.TopicAuthorizationFailed)] // WRITE on the input (or the dead-letter topic) missing
    [InlineData(KafkaApi.Produce, ErrorCode.TopicAuthorizationFailed)]
    [InlineData(KafkaApi.InitProducerId, ErrorCode.TransactionalIdAuthorizationFailed)] // WRITE on signal-pipeline-dlq-replay missing
    public async Task AReplayRefusedForWantOfAnACLSaysSoAndNamesWhereTheACLsAreListedAndReplaysNothing(KafkaApi api, ErrorCode refusal)
    {
        // Until 2026-12-07 a partition refused to the transaction ended with "Local: Purged in queue (Local_PurgeQueue)":
        // librdkafka purges a failed transaction's records and gives its error only to the next transactional call.
        var (dlq, input) = DeadLettersOfOneStream(3);
        CliRunner.Result refused;
        try
        {
            broker.Cluster.PushRequestErrors(api, [.. Enumerable.Repeat(refusal, 50)]);
            refused = await Replay(dlq);
        }
        finally
        {
            broker.Cluster.ClearFaults();
        }

        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains($"error: Kafka at {broker.Bootstrap} refused access: ", refused.Error);
        Assert.Contains($"({refusal}). The principal the Kafka__Client__* settings authenticate as lacks an ACL this command needs (docs/kafka.md, \"ACLs\", lists each command's).",
            refused.Error);
        Assert.DoesNotContain("Local_PurgeQueue", refused.Error);
        Assert.Empty(broker.ReadAll(input, "s1"));
        Assert.Equal(0, ListedReplays(refused.Output));
    }

    [Fact]
    public async Task AnInterruptedReplayAbortsTheTransactionItWasSendingAndSaysHowManyLettersWereReplayed()
    {
        // Ctrl+C went unnoticed: the replay waited on (here until its 60 s no-progress limit, exit 1), or was ended by
        // System.CommandLine 2 s after the signal without a word about what it had committed.
        var (dlq, input) = DeadLettersOfOneStream(8);
        using var interrupt = new CancellationTokenSource();
        CliRunner.Result interrupted;
        try
        {
            // Once the first transaction (3 letters) has committed, the broker refuses every produce, retriably: the
            // second transaction's records wait undelivered. Ctrl+C comes once one of them has reached the broker.
            var limits = Limits(transactionLetters: 3) with
            {
                AfterCommit = _ =>
                {
                    broker.Cluster.StartRequestTracking();
                    broker.Cluster.ClearTrackedRequests();
                    broker.Cluster.PushRequestErrors(KafkaApi.Produce, [.. Enumerable.Repeat(ErrorCode.NotEnoughReplicas, 100_000)]);
                },
            };
            var run = CliRunner.RunAsync(DlqReplayCommand.Create(limits), interrupt.Token, ["dlq", "replay", "--bootstrap", broker.Bootstrap, "--dlq-topic", dlq]);
            await Poll.UntilAsync(() => broker.Cluster.TrackedRequestCount(KafkaApi.Produce) > 0, TimeSpan.FromSeconds(60), () => "the second transaction's produce");
            await interrupt.CancelAsync();
            interrupted = await run.WaitAsync(TimeSpan.FromSeconds(90));
        }
        finally
        {
            broker.Cluster.StopRequestTracking();
            broker.Cluster.ClearFaults();
        }

        Assert.True(interrupted.ExitCode == ExitCodes.Interrupted, interrupted.ToString());
        Assert.Equal("interrupted: 3 dead letters were replayed and marked (the 'replay' lines); 3 more were chosen but not committed, " +
            "so none of them was replayed; the same command again replays the rest.", interrupted.Error.Trim());
        await AssertStoppedAfterThreeAndARerunReplaysTheRest(interrupted, dlq, input);
    }

    [Theory]
    [InlineData(true, "interrupted: the listing above is incomplete; nothing was sent.")]
    [InlineData(false, "interrupted: 0 dead letters were replayed and marked (the 'replay' lines); the same command again replays the rest.")]
    public async Task AReplayInterruptedInItsFirstReadingSaysWhereItStoppedWithExitCode130(bool dryRun, string said)
    {
        // docs/operations.md: Ctrl+C stops a replay at once, exit 130, and stderr says where it stopped ("--dry-run:
        // interrupted: the listing above is incomplete; nothing was sent."). Until 2026-12-05 the first reading (the
        // markers) said only "interrupted". A leaderless partition keeps that reading from reaching its end; Ctrl+C
        // comes once it has begun (the broker has seen a fetch).
        var (dlq, input) = DeadLettersOfOneStream(3);
        var stalled = (broker.ReadAll(dlq, "s1")[0].Partition.Value + 1) % MockBrokerFixture.Partitions;
        var held = SampleCodec.ToMessage(new SampleChunk("s2", 0, new double[] { 1 }) { Format = SampleFormat.Float64 });
        MessageHeaders.AddDeadLetter(held.Headers, new DecodeError(DecodeErrorCode.TooManySamples, "test"), new TopicPartitionOffset(input, 0, 1));
        broker.Produce(new TopicPartition(dlq, stalled), held);
        using var interrupt = new CancellationTokenSource();
        CliRunner.Result interrupted;
        broker.Cluster.SetPartitionLeader(dlq, stalled, MockKafkaCluster.AllBrokers);
        broker.Cluster.StartRequestTracking();
        broker.Cluster.ClearTrackedRequests();
        try
        {
            var run = CliRunner.RunAsync(DlqReplayCommand.Create(Limits()), interrupt.Token,
                ["dlq", "replay", "--bootstrap", broker.Bootstrap, "--dlq-topic", dlq, .. (dryRun ? new[] { "--dry-run" } : [])]);
            await Poll.UntilAsync(() => broker.Cluster.TrackedRequestCount(KafkaApi.Fetch) > 0, TimeSpan.FromSeconds(60), () => "the dead-letter topic's first fetch");
            await interrupt.CancelAsync();
            interrupted = await run.WaitAsync(TimeSpan.FromSeconds(90));
        }
        finally
        {
            broker.Cluster.StopRequestTracking();
            broker.Cluster.SetPartitionLeader(dlq, stalled, 1);
        }

        Assert.True(interrupted.ExitCode == ExitCodes.Interrupted, interrupted.ToString());
        Assert.EndsWith(said, interrupted.Error.Trim(), StringComparison.Ordinal);
        Assert.Empty(interrupted.Output);
        Assert.Empty(broker.ReadAll(input, "s1"));
    }

    [Theory]
    [InlineData(true, "interrupted: the listing above is incomplete; nothing was sent.")]
    [InlineData(false, "interrupted: 0 dead letters were replayed and marked (the 'replay' lines); the same command again replays the rest.")]
    public async Task AReplayInterruptedBeforeItsFirstReadingSaysWhereItStoppedWithExitCode130(bool dryRun, string said)
    {
        // The window before the first reading (the topic's look-up, taking over the transactional id, the consumer's
        // creation): until 2026-12-05 a signal there, or before the replay had started, said only "interrupted". A signal
        // that came before the verb ran at all is the one such moment a test can choose exactly.
        var (dlq, input) = DeadLettersOfOneStream(3);
        using var interrupt = new CancellationTokenSource();
        await interrupt.CancelAsync();

        var interrupted = await CliRunner.RunAsync(DlqReplayCommand.Create(Limits()), interrupt.Token,
            ["dlq", "replay", "--bootstrap", broker.Bootstrap, "--dlq-topic", dlq, .. (dryRun ? new[] { "--dry-run" } : [])]);

        Assert.True(interrupted.ExitCode == ExitCodes.Interrupted, interrupted.ToString());
        Assert.Equal(said, interrupted.Error.Trim());
        Assert.Empty(interrupted.Output);
        Assert.Empty(broker.ReadAll(input, "s1"));
    }

    [Fact]
    public async Task AReplayTakingLongerThanTheNoProgressLimitCompletesWhileTheClusterKeepsAnswering()
    {
        var (dlq, input) = DeadLettersOfOneStream(24);

        // The dev broker returns one batch per partition per fetch and each letter is a batch of its own: every reading
        // takes 24 round trips, longer in total than the limit, each well inside it.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        CliRunner.Result slow;
        broker.Cluster.SetBrokerRtt(MockKafkaCluster.AllBrokers, TimeSpan.FromMilliseconds(150));
        try
        {
            slow = await Replay(Limits(transactionLetters: 5, noProgress: TimeSpan.FromSeconds(2)), dlq);
        }
        finally
        {
            broker.Cluster.ClearFaults();
        }

        Assert.True(slow.ExitCode == 0, slow.ToString());
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(4), $"the replay took {clock.Elapsed}: the case needs it longer than the limit");
        Assert.Contains($"Replayed 24 of 24 dead letters in {dlq}", slow.Output);
        Assert.Equal(Seqs(24), ReplayedSeqs(input));
    }

    [Fact]
    public async Task AReplayIsGivenUpWhenTheClusterGivesNothingForTheNoProgressLimit()
    {
        var dlq = broker.NewTopic("dlq");
        var input = broker.NewTopic("input");
        var letter = SampleCodec.ToMessage(new SampleChunk("s1", 0, new double[] { 1 }) { Format = SampleFormat.Float64 });
        MessageHeaders.AddDeadLetter(letter.Headers, new DecodeError(DecodeErrorCode.TooManySamples, "test"), new TopicPartitionOffset(input, 0, 1));
        broker.Produce(new TopicPartition(dlq, 2), letter);

        CliRunner.Result stuck;
        broker.Cluster.SetPartitionLeader(dlq, 2, MockKafkaCluster.AllBrokers);
        try
        {
            stuck = await Replay(Limits(noProgress: TimeSpan.FromSeconds(2)), dlq);
        }
        finally
        {
            broker.Cluster.SetPartitionLeader(dlq, 2, 1);
        }

        Assert.True(stuck.ExitCode == 1, stuck.ToString());
        Assert.Contains($"error: reading {dlq} made no progress for 2 s: no record and no partition end came (partitions not read to their end: 2).", stuck.Error);
        Assert.Empty(broker.ReadAll(input, "s1"));
    }

    [Fact]
    public async Task MoreLettersThanLibrdkafkasLocalQueueHoldsAreWaitedForNotAnError()
    {
        var (dlq, input) = DeadLettersOfOneStream(20);

        // 40 messages (records and markers) in one transaction through a local queue of 4: Local_QueueFull until delivered.
        var factory = KafkaTestClients.CreateFactory(broker.Bootstrap, new Dictionary<string, string?>
        {
            [KafkaSettings.StatisticsIntervalSetting] = "0",
            ["Kafka:Producer:queue.buffering.max.messages"] = "4",
        });
        var output = new StringWriter();
        var request = new ReplayRequest(dlq, [], null, null, DryRun: false);

        var exit = await Task.Run(() => new DeadLetterReplay(factory, request, new VerbOutput(output, new StringWriter())).Run()).WaitAsync(TimeSpan.FromSeconds(90));

        Assert.Equal(0, exit);
        Assert.Contains($"Replayed 20 of 20 dead letters in {dlq}", output.ToString());
        Assert.Equal(Seqs(20), ReplayedSeqs(input));
        Assert.Equal(20, await ReplayMarkersAsync(dlq));
    }

    /// <summary>
    /// A replay of 8 letters (<see cref="DeadLettersOfOneStream"/>) that stopped after its first transaction of 3: those 3
    /// listed, replayed and marked, no summary; the same command again replays exactly the other 5.
    /// </summary>
    private async Task AssertStoppedAfterThreeAndARerunReplaysTheRest(CliRunner.Result stopped, string dlq, string input)
    {
        Assert.DoesNotContain("Replayed", stopped.Output);
        Assert.Equal(3, ListedReplays(stopped.Output));
        Assert.Equal([0L, 1, 2], ReplayedSeqs(input));
        Assert.Equal(3, await ReplayMarkersAsync(dlq));

        var rerun = await Replay(dlq);
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Contains($"Replayed 5 of 8 dead letters in {dlq} (0 not matching --reason/--stream, 3 replayed before).", rerun.Output);
        Assert.Equal(Seqs(8), ReplayedSeqs(input));
        Assert.Equal(8, await ReplayMarkersAsync(dlq));
    }

    /// <summary>The replay markers in <paramref name="dlq"/>, as <c>kafka tail</c> shows them.</summary>
    private async Task<int> ReplayMarkersAsync(string dlq)
    {
        var tail = await CliRunner.RunAsync("kafka", "tail", dlq, "--bootstrap", broker.Bootstrap, "--from-beginning", "-e");
        return tail.Output.Split("REPLAY MARKER").Length - 1;
    }

    private Task<CliRunner.Result> Replay(string dlq, params string[] args)
        => CliRunner.RunAsync(["dlq", "replay", "--bootstrap", broker.Bootstrap, "--dlq-topic", dlq, .. args]);

    /// <summary>The <c>replay ...</c> lines of the listing: the letters whose transaction committed.</summary>
    private static int ListedReplays(string output) => output.Split('\n').Count(l => l.StartsWith("replay ", StringComparison.Ordinal));

    /// <summary>The verb with other limits than the shipped ones.</summary>
    private Task<CliRunner.Result> Replay(ReplayLimits limits, string dlq, params string[] args)
        => CliRunner.RunAsync(DlqReplayCommand.Create(limits), ["dlq", "replay", "--bootstrap", broker.Bootstrap, "--dlq-topic", dlq, .. args]);

    private static ReplayLimits Limits(int transactionLetters = ReplayLimits.DefaultTransactionLetters, TimeSpan? noProgress = null)
        => ReplayLimits.Default with { TransactionLetters = transactionLetters, NoProgress = noProgress ?? ReplayLimits.Default.NoProgress };

    /// <summary>A dead-letter topic with <paramref name="count"/> too-many-samples letters of stream s1 (seq 0 on, one partition), and their source topic.</summary>
    private (string Dlq, string Input) DeadLettersOfOneStream(int count)
    {
        var dlq = broker.NewTopic("dlq");
        var input = broker.NewTopic("input");
        for (var seq = 0; seq < count; seq++)
        {
            DeadLetter(dlq, input, "s1", DecodeErrorCode.TooManySamples, seq);
        }

        return (dlq, input);
    }

    /// <summary>The seqs of stream s1's chunks in <paramref name="input"/>, in order: each replayed letter once.</summary>
    private List<long> ReplayedSeqs(string input) => [.. broker.ReadAll(input, "s1").Select(r => MockBrokerFixture.DecodeInput(r).Seq).Order()];

    private static List<long> Seqs(int count) => [.. Enumerable.Range(0, count).Select(seq => (long)seq)];

    private void DeadLetter(string dlq, string input, string stream, DecodeErrorCode code, long seq)
    {
        var original = SampleCodec.ToMessage(new SampleChunk(stream, seq, new double[] { 1, 2, 3 }) { Format = SampleFormat.Float64 });
        MessageHeaders.AddDeadLetter(original.Headers, new DecodeError(code, "test"), new TopicPartitionOffset(input, 1, 10 + seq));
        broker.Produce(dlq, original);
    }
}
