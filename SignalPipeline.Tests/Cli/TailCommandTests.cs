using System.Text;
using Confluent.Kafka;
using NAudio.Wave;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class TailCommandTests(MockBrokerFixture broker) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("tail-").FullName;

    [Fact]
    public async Task DecodesJsonAndBinaryChunksAndOnlyShowsTheChosenStream()
    {
        var stream = $"tail-{Guid.NewGuid():N}";
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 0, [0.5, 0.25]) with { Format = SampleFormat.Json }));
        broker.Produce("sample-output", SampleCodec.ToMessage(Output("someone-else", 0, [9, 9])));
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 1, [0.125, 2]) with { Format = SampleFormat.Float32 }));

        var result = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, "--stream", stream, "--from-beginning", "-e");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"key={stream}  seq=0  kalman  json  2 samples", result.Output);
        Assert.Contains($"key={stream}  seq=1  kalman  f32  2 samples", result.Output);
        Assert.Contains("filtered: 0.125 2", result.Output);
        Assert.DoesNotContain("someone-else", result.Output);
    }

    [Fact]
    public async Task ShowsDeadLettersWithTheirReasonHeaders()
    {
        // As the processor dead-letters it: the reason is the codec's own (docs/operations.md quotes this line).
        var key = $"dlq-{Guid.NewGuid():N}";
        var value = "{\"a\":}"u8.ToArray();
        Assert.False(SampleCodec.TryDecodeSampleChunk(Encoding.UTF8.GetBytes(key), value, null, out _, out var error));
        var headers = MessageHeaders.AddDeadLetter([], error, new TopicPartitionOffset("sample-input", 2, 41));
        broker.Produce("sample-dlq", new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(key), Value = value, Headers = headers });

        var result = await CliRunner.RunAsync("kafka", "tail", "sample-dlq", "--bootstrap", broker.Bootstrap, "--stream", key, "--from-beginning", "--count", "1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("DEAD LETTER malformed-json: malformed JSON: '}' is an invalid start of a value. LineNumber: 0 | BytePositionInLine: 5.  " +
            "(from sample-input/2@41)  undecodable (malformed-json: ", result.Output);
        Assert.Contains("), 6 bytes\n  value: {\"a\":}", result.Output);
    }

    [Fact]
    public async Task ARecordWithATimestampPastYear9999IsShownAndTheTailGoesOn()
    {
        var stream = $"ts-{Guid.NewGuid():N}";
        var far = SampleCodec.ToMessage(Output(stream, 0, [1]));
        far.Timestamp = new Timestamp(9_999_999_999_999_999L, TimestampType.CreateTime);
        broker.Produce("sample-output", far);
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 1, [2])));

        var result = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, "--stream", stream, "--from-beginning", "--count", "2", "--timeout", "60");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"ts 9999999999999999 ms (out of range)  key={stream}  seq=0", result.Output);
        Assert.Contains($"key={stream}  seq=1", result.Output);
    }

    [Fact]
    public async Task WavHoldsTheFilteredSignalInSeqOrderWithoutDuplicatesAtTheInputsSampleRate()
    {
        var stream = $"wav-{Guid.NewGuid():N}";
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        broker.Produce("sample-input", SampleCodec.ToMessage(new SampleChunk(stream, 0, new double[] { 1, 2 }, 22050, timestamp)));
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 0, [0.5, -0.25], timestamp)));
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 1, [0.125, 0.75], timestamp)));
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 1, [0.125, 0.75], timestamp))); // an aborted copy, as the dev broker shows
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 2, [-1, 1.5], timestamp)));
        var path = Path.Combine(_folder, "out.wav");

        var result = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, "--stream", stream, "--from-beginning",
            "--wav", path, "--count", "3", "--timeout", "60");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("1 duplicate chunks skipped", result.Output);
        using var reader = new WaveFileReader(path);
        Assert.Equal((22050, 1, WaveFormatEncoding.IeeeFloat), (reader.WaveFormat.SampleRate, reader.WaveFormat.Channels, reader.WaveFormat.Encoding));
        var samples = new float[8];
        Assert.Equal(6, reader.ToSampleProvider().Read(samples));
        Assert.Equal([0.5f, -0.25f, 0.125f, 0.75f, -1f, 1.5f], samples[..6]);
    }

    [Fact]
    public async Task CountNotReachedBeforeTheTimeoutExitsWithOne()
    {
        var result = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, "--stream", $"none-{Guid.NewGuid():N}", "--count", "1", "--timeout", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("timed out after 1 s: 0 of 1 records", result.Error);
    }

    [Fact]
    public async Task IdleStopsOnceTheStreamIsQuietAfterItsRecords()
    {
        var stream = $"idle-{Guid.NewGuid():N}";
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 0, [1])));

        var result = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, "--stream", stream, "--from-beginning", "--idle", "1", "--timeout", "60");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("nothing new for 1 s: 1 records", result.Error);
    }

    [Fact]
    public async Task WavWithoutStreamOrUnknownTopicIsBadInput()
    {
        var noStream = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, "--wav", Path.Combine(_folder, "x.wav"));
        Assert.Equal(2, noStream.ExitCode);
        Assert.Contains("--wav needs --stream", noStream.Error);
    }

    [Theory]
    [InlineData("--count", "0", "--count must be 1 or more, was 0.")]
    [InlineData("--idle", "0", "--idle must be a positive number of seconds (at most 1000000000), was 0.")]
    [InlineData("--idle", "Infinity", "--idle must be a positive number of seconds (at most 1000000000), was Infinity.")]
    [InlineData("--timeout", "-1", "--timeout must be a positive number of seconds (at most 1000000000), was -1.")]
    [InlineData("--timeout", "NaN", "--timeout must be a positive number of seconds (at most 1000000000), was NaN.")]
    [InlineData("--timeout", "1e300", "--timeout must be a positive number of seconds (at most 1000000000), was 1E+300.")]
    public async Task ABadStopConditionIsBadInputNamingIt(string option, string value, string message)
    {
        var result = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, option, value);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal($"error: {message}", result.Error.Trim());
    }

    private static FilteredChunk Output(string stream, long seq, double[] filtered, long? timestamp = null)
    {
        var time = timestamp ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return new FilteredChunk(stream, seq, "kalman", filtered.Select(f => f * 2).ToArray(), filtered, time, time + 1) { Format = SampleFormat.Float64 };
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
