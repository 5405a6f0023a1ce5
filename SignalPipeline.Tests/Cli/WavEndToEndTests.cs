using NAudio.Wave;
using SignalPipeline.Cli.Audio;
using SignalPipeline.Filters;
using SignalPipeline.Tests.FilterKafkaProcessor;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

/// <summary>
/// The issue's audio route through the whole AppHost (generator off): <c>produce --wav</c> a tone plus noise, then
/// <c>kafka tail --wav</c> the filtered stream, and compare with one reference filter run over the WAV's samples.
/// </summary>
[Trait("Category", TestCategory.AppHost)]
public sealed class WavEndToEndTests(ProcessorAppFixture shared, ITestOutputHelper output) : IClassFixture<ProcessorAppFixture>, IDisposable
{
    private readonly ProcessorAppFixture app = shared.WithTestOutput(output);
    private const int SampleRate = 8000;
    private const int Samples = 6000;
    private readonly string _folder = Directory.CreateTempSubdirectory("wav-e2e-").FullName;

    [Theory]
    [InlineData(100, "json", "float32")]
    [InlineData(1024, "f32", "float32")]
    [InlineData(357, "f64", "pcm16")]
    public async Task FilteredWavEqualsTheReferenceFilterOverTheInputWhateverTheChunking(int chunkSize, string format, string wavFormat)
    {
        await app.WaitForHealthyAsync(ProcessorAppFixture.Processor);
        var bootstrap = await app.GetConnectionStringAsync("kafka");
        var input = Path.Combine(_folder, "in.wav");
        WriteToneWithNoise(input);
        var stream = $"mic-{Guid.NewGuid():N}"[..16];
        var output = Path.Combine(_folder, "out.wav");

        var produced = await CliRunner.RunAsync("produce", "--bootstrap", bootstrap, "--wav", input, "--stream", stream,
            "--chunk-size", chunkSize.ToString(System.Globalization.CultureInfo.InvariantCulture), "--format", format);
        Assert.True(produced.ExitCode == 0, produced.ToString());
        var chunks = (Samples + chunkSize - 1) / chunkSize;
        var tailed = await CliRunner.RunAsync(TimeSpan.FromSeconds(150), "kafka", "tail", "--bootstrap", bootstrap, "--stream", stream,
            "--from-beginning", "--wav", output, "--wav-format", wavFormat, "--count", chunks.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--timeout", "120");
        Assert.True(tailed.ExitCode == 0, tailed.ToString());

        var sent = WavSignal.Read(input).Samples.ToArray();
        var reference = new double[sent.Length];
        FilterFactory.Create("kalman").Process(sent, reference);
        using var reader = new WaveFileReader(output);
        Assert.Equal((SampleRate, 1), (reader.WaveFormat.SampleRate, reader.WaveFormat.Channels));
        var filtered = new float[Samples + 1];
        Assert.Equal(Samples, reader.ToSampleProvider().Read(filtered));
        for (var i = 0; i < Samples; i++)
        {
            // float32 holds exactly what a float conversion of the reference gives; 16-bit PCM is within half a step.
            var ok = wavFormat == "float32"
                ? filtered[i] == (float)reference[i]
                : Math.Abs(filtered[i] - Math.Clamp(reference[i], -1, 32767 / 32768.0)) <= 0.5 / 32768 + 1e-12;
            Assert.True(ok, $"sample {i}: WAV {filtered[i]:R}, reference {reference[i]:R} ({format}, chunks of {chunkSize}, {wavFormat})");
        }
    }

    [Fact]
    public async Task LagReadsTheRunningProcessorsChangelogCheckpoints()
    {
        await app.WaitForHealthyAsync(ProcessorAppFixture.Processor);
        var bootstrap = await app.GetConnectionStringAsync("kafka");
        var input = Path.Combine(_folder, "lag.txt");
        await File.WriteAllLinesAsync(input, Enumerable.Range(0, 2000).Select(i => (i % 7 * 0.1).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var stream = $"lag-{Guid.NewGuid():N}"[..16];
        Assert.Equal(0, (await CliRunner.RunAsync("produce", "--bootstrap", bootstrap, "--file", input, "--stream", stream, "--chunk-size", "500")).ExitCode);
        var tailed = await CliRunner.RunAsync("kafka", "tail", "--bootstrap", bootstrap, "--stream", stream, "--from-beginning", "--count", "4", "--timeout", "120", "--samples", "0");
        Assert.True(tailed.ExitCode == 0, tailed.ToString());

        // The output is committed with the checkpoint in one transaction: once it is visible, the lag is 0.
        CliRunner.Result? lag = null;
        await Infrastructure.Poll.UntilAsync(() =>
        {
            lag = CliRunner.RunAsync("kafka", "lag", "--bootstrap", bootstrap).GetAwaiter().GetResult();
            return lag.Output.Contains("Total lag 0 records", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(60), () => lag?.ToString() ?? "no answer");
        Assert.Matches(@"\n\d+\s+\d+\s+[1-9]\d*\s+\S+\s+\d+\s+changelog\s+0\n", lag!.Output);
    }

    /// <summary>A 440 Hz tone at 0.5 plus seeded noise, as 32-bit float (what a recording app exports losslessly).</summary>
    private static void WriteToneWithNoise(string path)
    {
        var random = new Random(12);
        using var writer = new WaveFileWriter(path, WaveFormat.CreateIeeeFloatWaveFormat(SampleRate, 1));
        for (var i = 0; i < Samples; i++)
        {
            writer.WriteSample((float)(0.5 * Math.Sin(2 * Math.PI * 440 * i / SampleRate) + 0.1 * (random.NextDouble() - 0.5)));
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
