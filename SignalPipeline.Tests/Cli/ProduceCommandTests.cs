using System.Globalization;
using NAudio.Wave;
using SignalPipeline.Cli.Audio;
using SignalPipeline.Messages;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class ProduceCommandTests(MockBrokerFixture broker) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("produce-").FullName;

    [Fact]
    public async Task TextFileIsChunkedWithSeqFromZeroAndKeyEqualToTheStream()
    {
        var stream = $"csv-{Guid.NewGuid():N}";
        var samples = Enumerable.Range(0, 1000).Select(i => Math.Sin(i * 0.01) + i * 1e-7).ToArray();
        var path = Path.Combine(_folder, "signal.csv");
        File.WriteAllLines(path, ["time,value", .. samples.Select((s, i) => $"{i},{s.ToString("R", CultureInfo.InvariantCulture)}")]);

        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", stream, "--file", path,
            "--column", "value", "--chunk-size", "300", "--format", "f64", "--sample-rate", "8000");

        Assert.True(result.ExitCode == 0, result.ToString());
        // The summary docs/operations.md quotes ("Prints `Produced 48000 samples of 'mic-1' as 188 chunks ...`").
        Assert.Matches($@"^Produced 1000 samples of '{stream}' as 4 chunks \(seq 0\.\.3, f64, 8000 Hz\) to sample-input in \d+\.\d s\.\r?\n$", result.Output);
        var chunks = broker.ReadAll("sample-input", stream).Select(MockBrokerFixture.DecodeInput).ToList();
        Assert.Equal([0L, 1, 2, 3], chunks.Select(c => c.Seq));
        Assert.Equal([300, 300, 300, 100], chunks.Select(c => c.Signal.Length));
        Assert.All(chunks, c => Assert.Equal((stream, SampleFormat.Float64, (double?)8000), (c.StreamId, c.Format, c.SampleRate)));
        Assert.Equal(samples, chunks.SelectMany(c => c.Signal.ToArray()));
    }

    [Fact]
    public async Task OneSampleInOneChunkIsSaidInTheSingular()
    {
        // Until 2026-12-05: "Produced 1 samples of '...' as 1 chunks".
        var stream = $"one-{Guid.NewGuid():N}";
        var path = Path.Combine(_folder, "one.txt");
        File.WriteAllLines(path, ["0.5"]);

        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", stream, "--file", path, "--format", "f64");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches($@"^Produced 1 sample of '{stream}' as 1 chunk \(seq 0\.\.0, f64\) to sample-input in \d+\.\d s\.\r?\n$", result.Output);
        Assert.Single(broker.ReadAll("sample-input", stream));
    }

    [Fact]
    public async Task WavChannelIsSentWithItsSampleRateAndF32KeepsEverySample()
    {
        var stream = $"wav-{Guid.NewGuid():N}";
        var path = Path.Combine(_folder, "stereo.wav");
        // More frames than the WAV reader's buffer holds, in chunks that do not line up with it.
        short[] left = [.. Enumerable.Range(0, 2 * WavSignal.BufferFrames + 100).Select(i => (short)(i * 37 % 30000 - 15000))];
        short[] right = [.. left.Select(s => (short)-s)];
        using (var writer = new WaveFileWriter(path, new WaveFormat(11025, 16, 2)))
        {
            writer.WriteSamples([.. left.Zip(right).SelectMany(p => new[] { p.First, p.Second })], 0, 2 * left.Length);
        }

        var noChannel = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", stream, "--wav", path);
        Assert.Equal(2, noChannel.ExitCode);
        Assert.Contains("--channel", noChannel.Error);

        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", stream, "--wav", path,
            "--channel", "1", "--format", "f32", "--chunk-size", "128");

        Assert.True(result.ExitCode == 0, result.ToString());
        var chunkCount = (left.Length + 127) / 128;
        Assert.Matches($@"^Produced {left.Length} samples of '{stream}' as {chunkCount} chunks \(seq 0\.\.{chunkCount - 1}, f32, 11025 Hz\) to sample-input in \d+\.\d s\.\r?\n$", result.Output);
        var chunks = broker.ReadAll("sample-input", stream).Select(MockBrokerFixture.DecodeInput).ToList();
        Assert.Equal(Enumerable.Range(0, (left.Length + 127) / 128).Select(i => (long)i), chunks.Select(c => c.Seq));
        Assert.All(chunks, c => Assert.Equal((SampleFormat.Float32, (double?)11025), (c.Format, c.SampleRate)));
        Assert.Equal(right.Select(s => s / 32768.0), chunks.SelectMany(c => c.Signal.ToArray()));
    }

    [Fact]
    public async Task StdinIsReadWhenNoFileIsGiven()
    {
        var stream = $"stdin-{Guid.NewGuid():N}";
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "signal-pipeline.dll"), "produce", "--bootstrap", broker.Bootstrap, "--stream", stream, "--chunk-size", "2" },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        await process.StandardInput.WriteAsync("0.5\n-1.25\n3\n");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));

        Assert.True(process.ExitCode == 0, await output + await error);
        var chunks = broker.ReadAll("sample-input", stream).Select(MockBrokerFixture.DecodeInput).ToList();
        Assert.Equal([0.5, -1.25, 3], chunks.SelectMany(c => c.Signal.ToArray()));
        Assert.Equal([0L, 1], chunks.Select(c => c.Seq));
    }

    [Fact]
    public async Task AnInterruptedProduceSaysWhichSeqsWereDeliveredAndWhereToGoOn()
    {
        // Ctrl+C said only "interrupted": the user could not tell which chunks were on the topic, nor the --start-seq to go on with.
        var stream = $"interrupt-{Guid.NewGuid():N}";
        var path = Path.Combine(_folder, "long.txt");
        File.WriteAllLines(path, Enumerable.Range(0, 100_000).Select(i => i.ToString(CultureInfo.InvariantCulture)));
        var root = new System.CommandLine.RootCommand("test");
        SignalPipeline.Cli.Operations.OperationsCommands.AddTo(root);
        var error = new StringWriter();
        using var interrupt = new CancellationTokenSource();
        var run = root.Parse(["produce", "--bootstrap", broker.Bootstrap, "--stream", stream, "--file", path, "--chunk-size", "10", "--rate", "200"])
            .InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = new StringWriter(), Error = error }, interrupt.Token);
        await Poll.UntilAsync(() => broker.ReadAll("sample-input", stream).Count >= 3, TimeSpan.FromSeconds(60), () => "3 chunks on the topic");

        await interrupt.CancelAsync();
        var exit = await run.WaitAsync(TimeSpan.FromSeconds(60));

        var seqs = broker.ReadAll("sample-input", stream).Select(r => MockBrokerFixture.DecodeInput(r).Seq).ToList();
        Assert.True(exit == 1, $"exit {exit}\n{error}");
        Assert.Equal(Enumerable.Range(0, seqs.Count).Select(i => (long)i), seqs);
        Assert.Equal($"interrupted: {seqs.Count} chunks were delivered to sample-input (seq 0..{seqs.Count - 1}); go on from seq {seqs.Count} (--start-seq {seqs.Count}).",
            error.ToString().Trim());
    }

    [Theory]
    [InlineData("1\n2\nabc\n", "line 3: 'abc' is not a number")]
    [InlineData("# nothing\n", "holds no samples")]
    [InlineData("a,b\n1,2\n", "no header line names a column 'c'")]
    public async Task BadTextInputExitsWithTwoNamingTheProblem(string text, string message)
    {
        var path = Path.Combine(_folder, "bad.txt");
        await File.WriteAllTextAsync(path, text);
        var column = message.Contains("column", StringComparison.Ordinal) ? new[] { "--column", "c" } : [];

        var result = await CliRunner.RunAsync(["produce", "--bootstrap", broker.Bootstrap, "--stream", "bad", "--file", path, .. column]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error);
    }

    [Fact]
    public async Task ABadLineAfterTheFirstChunksDeliversTheChunksBeforeItAndSaysHowFarTheStreamGot()
    {
        // Until 2026-12-06 the producer was disposed unflushed: chunks still queued were lost, and nothing said which.
        var stream = $"cut-{Guid.NewGuid():N}";
        var path = Path.Combine(_folder, "cut.txt");
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Range(1, 10).Select(i => $"{i}\n")) + "abc\n");

        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", stream, "--file", path, "--chunk-size", "2");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal($"error: {path} line 11: 'abc' is not a number. 5 chunks before it were delivered to sample-input (seq 0..4); go on from seq 5 (--start-seq 5).",
            result.Error.Trim());
        Assert.Equal([0L, 1, 2, 3, 4], broker.ReadAll("sample-input", stream).Select(r => MockBrokerFixture.DecodeInput(r).Seq));
    }

    [Theory]
    [InlineData("--chunk-size", "0", "--chunk-size must be between 1 and 65536")]
    [InlineData("--rate", "-5", "--rate must be 0")]
    [InlineData("--file", "/nonexistent/samples.txt", "samples.txt")]
    [InlineData("--start-seq", "-1", "--start-seq must be 0 or more, was -1.")]
    [InlineData("--channel", "0", "--channel is for --wav input.")]
    [InlineData("--sample-rate", "0", "--sample-rate must be a positive number of Hz, was 0.")]
    public async Task BadOptionsExitWithTwo(string option, string value, string message)
    {
        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", "bad", option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error);
    }

    [Theory]
    [InlineData("1e-7", "1E-07")]
    [InlineData("1e-300", "1E-300")]
    public async Task ARateTooSlowToPaceIsBadInputBeforeAChunkIsSent(string rate, string shown)
    {
        var stream = $"slow-{Guid.NewGuid():N}";
        var path = Path.Combine(_folder, "slow.txt");
        await File.WriteAllLinesAsync(path, Enumerable.Range(0, 300).Select(i => i.ToString(CultureInfo.InvariantCulture)));

        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", stream, "--file", path, "--rate", rate);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal($"error: --rate must be 0 (flat out) or at least 0.001 samples/s, was {shown}.", result.Error.Trim());
        Assert.Empty(broker.ReadAll("sample-input", stream));
    }

    [Fact]
    public async Task ATruncatedWavIsBadInputNamingTheFile()
    {
        var path = Path.Combine(_folder, "truncated.wav");
        using (var writer = new WaveFileWriter(path, new WaveFormat(8000, 16, 1)))
        {
            writer.WriteSamples(new short[100], 0, 100);
        }

        await File.WriteAllBytesAsync(path, (await File.ReadAllBytesAsync(path))[..30]);

        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", "truncated", "--wav", path);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith($"error: {path} is not a WAV file NAudio can read: ", result.Error);
        Assert.Single(result.Error.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("--file", "give --file or --wav, not both.")]
    [InlineData("--sample-rate", "--sample-rate is for text input; a WAV file's own rate is sent.")]
    public async Task AWavWithAnOptionForTextInputExitsWithTwo(string option, string message)
    {
        var value = option == "--file" ? Path.Combine(_folder, "other.txt") : "8000";
        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", "bad", "--wav", Path.Combine(_folder, "none.wav"), option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error);
    }

    [Fact]
    public async Task ASampleBeyondTheFloat32RangeInAnF32ChunkExitsWithTwoNamingTheChunkAndTheSample()
    {
        var path = Path.Combine(_folder, "huge.txt");
        await File.WriteAllTextAsync(path, "0.5\n1e300\n");

        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", "huge", "--file", path, "--format", "f32");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: chunk seq 0: Sample 1 = 1E+300 is outside the float32 range. Send it with --format f64 or json.", result.Error);
        Assert.DoesNotContain("(Parameter", result.Error);
    }

    [Fact]
    public async Task AStreamIdOver256BytesExitsWithTwo()
    {
        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", new string('s', 257), "--file", "/nonexistent/x.txt");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--stream must be 1 to 256 UTF-8 bytes.", result.Error);
    }

    [Fact]
    public async Task AStreamIdWithALoneSurrogateExitsWithTwoInsteadOfGoingOutAsAReplacementCharacter()
    {
        var result = await CliRunner.RunAsync("produce", "--bootstrap", broker.Bootstrap, "--stream", "mic-\uD800", "--file", "/nonexistent/x.txt");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--stream is not valid Unicode (a lone surrogate): no stream can have it.", result.Error, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
