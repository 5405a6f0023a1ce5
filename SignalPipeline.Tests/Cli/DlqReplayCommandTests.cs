using System.Text;
using Confluent.Kafka;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

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

    /// <summary>The replay markers in <paramref name="dlq"/>, as <c>kafka tail</c> shows them.</summary>
    private async Task<int> ReplayMarkersAsync(string dlq)
    {
        var tail = await CliRunner.RunAsync("kafka", "tail", dlq, "--bootstrap", broker.Bootstrap, "--from-beginning", "-e");
        return tail.Output.Split("REPLAY MARKER").Length - 1;
    }

    private Task<CliRunner.Result> Replay(string dlq, params string[] args)
        => CliRunner.RunAsync(["dlq", "replay", "--bootstrap", broker.Bootstrap, "--dlq-topic", dlq, .. args]);

    private void DeadLetter(string dlq, string input, string stream, DecodeErrorCode code, long seq)
    {
        var original = SampleCodec.ToMessage(new SampleChunk(stream, seq, new double[] { 1, 2, 3 }) { Format = SampleFormat.Float64 });
        MessageHeaders.AddDeadLetter(original.Headers, new DecodeError(code, "test"), new TopicPartitionOffset(input, 1, 10 + seq));
        broker.Produce(dlq, original);
    }
}
