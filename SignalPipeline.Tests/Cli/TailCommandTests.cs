using System.Text;
using Confluent.Kafka;
using NAudio.Wave;
using SignalPipeline.Cli.Operations;
using SignalPipeline.DevBroker;
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
        Assert.Contains("1 duplicate chunk skipped", result.Output);
        using var reader = new WaveFileReader(path);
        Assert.Equal((22050, 1, WaveFormatEncoding.IeeeFloat), (reader.WaveFormat.SampleRate, reader.WaveFormat.Channels, reader.WaveFormat.Encoding));
        var samples = new float[8];
        Assert.Equal(6, reader.ToSampleProvider().Read(samples));
        Assert.Equal([0.5f, -0.25f, 0.125f, 0.75f, -1f, 1.5f], samples[..6]);
    }

    /// <summary>
    /// README ("Filter your own signal"): a text file's stream carries no sample rate, so its WAV needs --sample-rate
    /// (here on the tail; on produce it goes into every chunk), and without one the tail says so (exit 2).
    /// </summary>
    [Fact]
    public async Task WavOfAStreamWithoutASampleRateAsksForOneAndTakesIt()
    {
        var stream = $"text-{Guid.NewGuid():N}";
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        broker.Produce("sample-input", SampleCodec.ToMessage(new SampleChunk(stream, 0, new double[] { 1, 2 }, null, timestamp)));
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 0, [0.5, -0.25], timestamp)));
        var path = Path.Combine(_folder, "text.wav");
        string[] tail = ["kafka", "tail", "--bootstrap", broker.Bootstrap, "--stream", stream, "--from-beginning", "--wav", path, "--count", "1", "--timeout", "60"];

        var refused = await CliRunner.RunAsync(tail);
        var written = await CliRunner.RunAsync([.. tail, "--sample-rate", "8000"]);

        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains($"error: no sample_rate for '{stream}' on sample-input near its seq 0: pass --sample-rate to write {path}.", refused.Error);
        Assert.True(written.ExitCode == 0, written.ToString());
        using var reader = new WaveFileReader(path);
        Assert.Equal(8000, reader.WaveFormat.SampleRate);
    }

    [Fact]
    public async Task WavSampleRateLookUpTakingLongerThanTheNoProgressLimitCompletesWhileTheClusterKeepsAnswering()
    {
        var (stream, input, output) = OneOutputChunkWhoseRateIsInInputPartition(0, otherStreamsBefore: 30);
        var path = Path.Combine(_folder, "slow.wav");

        // The dev broker cannot search by time, so the look-up reads the input from its start; it returns one batch per
        // partition per fetch and each chunk is a batch of its own: 31 round trips, longer in total than the limit, each
        // well inside it.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        CliRunner.Result slow;
        broker.Cluster.SetBrokerRtt(MockKafkaCluster.AllBrokers, TimeSpan.FromMilliseconds(150));
        try
        {
            slow = await WavTail(TimeSpan.FromSeconds(2), output, input, stream, path);
        }
        finally
        {
            broker.Cluster.ClearFaults();
        }

        Assert.True(slow.ExitCode == 0, slow.ToString());
        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(4), $"the verb took {clock.Elapsed}: the case needs it longer than the limit");
        Assert.Contains($"Wrote 2 samples (1 chunk) of '{stream}' to {path} at 22050 Hz", slow.Output);
        using var reader = new WaveFileReader(path);
        Assert.Equal(22050, reader.WaveFormat.SampleRate);
    }

    [Fact]
    public async Task WavSampleRateLookUpIsGivenUpWhenTheClusterGivesNothingForTheNoProgressLimit()
    {
        var (stream, input, output) = OneOutputChunkWhoseRateIsInInputPartition(2, otherStreamsBefore: 0);

        CliRunner.Result stuck;
        broker.Cluster.SetPartitionLeader(input, 2, MockKafkaCluster.AllBrokers);
        try
        {
            stuck = await WavTail(TimeSpan.FromSeconds(2), output, input, stream, Path.Combine(_folder, "stuck.wav"));
        }
        finally
        {
            broker.Cluster.SetPartitionLeader(input, 2, 1);
        }

        // Not "no sample_rate ... pass --sample-rate" (exit 2): the input was not read to its end.
        Assert.True(stuck.ExitCode == 1, stuck.ToString());
        Assert.Contains($"error: reading {input} made no progress for 2 s: no record and no partition end came (partitions not read to their end: 2).", stuck.Error);
        Assert.DoesNotContain("--sample-rate", stuck.Error);
    }

    [Fact]
    public async Task ExitAtEndIsGivenUpWhenTheClusterGivesNothingForTheNoProgressLimit()
    {
        // A partition that stopped answering midway (its leader gone): -e waited for its end for ever.
        var topic = broker.NewTopic("stuck");
        broker.Produce(new TopicPartition(topic, 0), SampleCodec.ToMessage(Output("stuck", 0, [1])));

        CliRunner.Result stuck;
        broker.Cluster.SetPartitionLeader(topic, 2, MockKafkaCluster.AllBrokers);
        try
        {
            stuck = await CliRunner.RunAsync(TailCommand.Create(TimeSpan.FromSeconds(2)), "tail", topic, "--bootstrap", broker.Bootstrap,
                "--from-beginning", "-e", "--timeout", "60");
        }
        finally
        {
            broker.Cluster.SetPartitionLeader(topic, 2, 1);
        }

        Assert.True(stuck.ExitCode == 1, stuck.ToString());
        Assert.Contains($"error: reading {topic} made no progress for 2 s: no record and no partition end came (partitions not read to their end: 2; 1 record shown).", stuck.Error);
    }

    [Theory]
    [InlineData(null, 0, "interrupted: 0 records.")]
    [InlineData("3", 1, "interrupted: 0 of 3 records.")]
    public async Task CtrlCStopsATailAtOnceSayingInterruptedExitZeroUnlessItsCountWasNotReached(string? count, int exit, string said)
    {
        // docs/operations.md: "kafka tail stops at once, interrupted: N records. (exit 0; with --count not reached, exit 1)".
        // Ctrl+C comes once the tail reads (the broker has seen a fetch), so its topic look-up is behind it.
        var topic = broker.NewTopic("quiet");
        using var interrupt = new CancellationTokenSource();
        CliRunner.Result interrupted;
        broker.Cluster.StartRequestTracking();
        broker.Cluster.ClearTrackedRequests();
        try
        {
            var run = CliRunner.RunAsync(TailCommand.Create(), interrupt.Token,
                ["tail", topic, "--bootstrap", broker.Bootstrap, .. (count is null ? [] : new[] { "--count", count })]);
            await Poll.UntilAsync(() => broker.Cluster.TrackedRequestCount(KafkaApi.Fetch) > 0, TimeSpan.FromSeconds(60), () => $"a fetch of {topic}");
            await interrupt.CancelAsync();
            interrupted = await run.WaitAsync(TimeSpan.FromSeconds(90));
        }
        finally
        {
            broker.Cluster.StopRequestTracking();
        }

        Assert.True(interrupted.ExitCode == exit, interrupted.ToString());
        Assert.Equal(said, interrupted.Error.Trim());
        Assert.Empty(interrupted.Output);
    }

    [Fact]
    public async Task CountNotReachedBeforeTheTimeoutExitsWithOne()
    {
        var result = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, "--stream", $"none-{Guid.NewGuid():N}", "--count", "1", "--timeout", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("timed out after 1 s: 0 of 1 record.", result.Error);
    }

    [Fact]
    public async Task IdleStopsOnceTheStreamIsQuietAfterItsRecords()
    {
        var stream = $"idle-{Guid.NewGuid():N}";
        broker.Produce("sample-output", SampleCodec.ToMessage(Output(stream, 0, [1])));

        var result = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", broker.Bootstrap, "--stream", stream, "--from-beginning", "--idle", "1", "--timeout", "60");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("nothing new for 1 s: 1 record.", result.Error);
    }

    [Fact]
    public async Task ATailWhoseOutputPipeIsClosedStopsAtItsNextRecordWithExitOne()
    {
        // `kafka tail | head -1`: .NET's Console.Out ignores EPIPE, so the tail read on for ever once head had exited.
        var topic = broker.NewTopic("pipe");
        broker.Produce(topic, SampleCodec.ToMessage(Output("pipe", 0, [1])));
        var start = ExternalProcess.Command("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "signal-pipeline.dll"), "kafka", "tail", topic, "--bootstrap", broker.Bootstrap, "--from-beginning"]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = System.Diagnostics.Process.Start(start)!;
        try
        {
            var error = process.StandardError.ReadToEndAsync();
            var first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.StartsWith($"{topic}/", first);
            process.StandardOutput.Close(); // the reader exits, as head -1 does

            broker.Produce(topic, SampleCodec.ToMessage(Output("pipe", 1, [2])));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

            Assert.True(process.ExitCode == 1, $"exit {process.ExitCode}\n{await error}");
            Assert.Contains("error: stdout was closed (Broken pipe): the program reading the output has exited; stopped.", await error);
            Assert.DoesNotContain("Unhandled exception", await error);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
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

    /// <summary>
    /// Topics of the test's own: an output topic with one chunk (2 samples) of a new stream, and an input topic whose
    /// <paramref name="partition"/> holds chunks of <paramref name="otherStreamsBefore"/> other streams (8000 Hz), then
    /// that stream's chunk (22050 Hz).
    /// </summary>
    private (string Stream, string Input, string Output) OneOutputChunkWhoseRateIsInInputPartition(int partition, int otherStreamsBefore)
    {
        var stream = $"wav-{Guid.NewGuid():N}";
        var input = broker.NewTopic("input");
        var output = broker.NewTopic("output");
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var other = 0; other < otherStreamsBefore; other++)
        {
            broker.Produce(new TopicPartition(input, partition), SampleCodec.ToMessage(new SampleChunk($"other-{other}", 0, new double[] { 1 }, 8000, timestamp)));
        }

        broker.Produce(new TopicPartition(input, partition), SampleCodec.ToMessage(new SampleChunk(stream, 0, new double[] { 1, 2 }, 22050, timestamp)));
        broker.Produce(output, SampleCodec.ToMessage(Output(stream, 0, [0.5, -0.25], timestamp)));
        return (stream, input, output);
    }

    /// <summary><c>kafka tail --wav</c> of one chunk with another no-progress limit for its sample-rate look-up than the shipped one.</summary>
    private Task<CliRunner.Result> WavTail(TimeSpan lookUpNoProgress, string output, string input, string stream, string path)
        => CliRunner.RunAsync(TailCommand.Create(lookUpNoProgress), "tail", output, "--bootstrap", broker.Bootstrap, "--stream", stream, "--from-beginning",
            "--wav", path, "--input-topic", input, "--count", "1", "--timeout", "60");

    private static FilteredChunk Output(string stream, long seq, double[] filtered, long? timestamp = null)
    {
        var time = timestamp ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return new FilteredChunk(stream, seq, "kalman", filtered.Select(f => f * 2).ToArray(), filtered, time, time + 1) { Format = SampleFormat.Float64 };
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
