using System.Globalization;
using FilterService;
using SignalPipeline.Cli.Audio;
using SignalPipeline.Filters;
using SignalPipeline.Tests.FilterGateway;

namespace SignalPipeline.Tests.Cli;

/// <summary><c>filter</c> against the real gateway and filter service, both in process.</summary>
public sealed class FilterCommandTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("filter-").FullName;
    private InProcessHost? _service;
    private InProcessHost? _gateway;

    private string Gateway => _gateway!.Address.ToString();

    public async Task InitializeAsync()
    {
        _service = await InProcessHost.StartAsync(new Dictionary<string, string?>(), builder => builder.AddFilterService(), app => app.MapFilterService());
        _gateway = await GatewaySettingsTests.StartGatewayAsync(new Dictionary<string, string?> { ["KALMAN_SERVICE_URL"] = _service.Address.ToString() });
    }

    [Fact]
    public async Task ChunkedCallsThroughTheGatewayEqualOneFilterRunBitForBit()
    {
        var samples = Enumerable.Range(0, 1000).Select(i => Math.Sin(i * 0.03) + 0.1 * Math.Cos(i * 1.7)).ToArray();
        var input = Path.Combine(_folder, "in.txt");
        await File.WriteAllLinesAsync(input, samples.Select(s => s.ToString("R", CultureInfo.InvariantCulture)));

        var result = await CliRunner.RunAsync("filter", "--gateway", Gateway, "--file", input, "--param", "q=1e-4", "--chunk-size", "300");

        Assert.True(result.ExitCode == 0, result.ToString());
        var expected = new double[samples.Length];
        FilterFactory.Create("kalman", new Dictionary<string, double> { ["q"] = 1e-4 }).Process(samples, expected);
        Assert.Equal(expected, result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => double.Parse(l, CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task WavInWavOutKeepsTheRateAndEqualsOneRunOverTheWholeFile()
    {
        // More samples than the WAV reader's buffer holds, in requests that do not line up with it: the file is read,
        // sent and written a chunk at a time, and the output is still one filter run over the whole signal.
        var input = Path.Combine(_folder, "in.wav");
        // float32 in the file: the signal sent is exactly these values.
        double[] sent = [.. Enumerable.Range(0, 3 * WavSignal.BufferFrames + 123).Select(i => (double)(float)(0.5 * Math.Sin(i * 0.2)))];
        using (var writer = new WavWriter(input, 16000, WavSampleFormat.Float32))
        {
            writer.Write(sent);
        }

        var output = Path.Combine(_folder, "out.wav");
        var result = await CliRunner.RunAsync("filter", "--gateway", Gateway, "--wav", input, "--wav-out", output, "--chunk-size", "3000");

        Assert.True(result.ExitCode == 0, result.ToString());
        var expected = new double[sent.Length];
        FilterFactory.Create("kalman").Process(sent, expected);
        var written = WavSignal.Read(output);
        Assert.Equal(16000, written.SampleRate);
        Assert.Equal(expected.Select(e => (double)(float)e), written.Samples);
    }

    [Fact]
    public async Task TheInputIsSentAndTheOutputWrittenAChunkAtATimeSoABadLineLeavesTheChunksBeforeIt()
    {
        // The whole input was read before the first request: a bad line anywhere meant nothing sent, but also every
        // sample of a file of any size held in memory, twice with the output.
        double[] good = [.. Enumerable.Range(0, 10).Select(i => Math.Cos(i * 0.4))];
        var input = Path.Combine(_folder, "bad-line.txt");
        await File.WriteAllLinesAsync(input, [.. good.Select(s => s.ToString("R", CultureInfo.InvariantCulture)), "abc", "1"]);
        var output = Path.Combine(_folder, "partial.txt");

        var result = await CliRunner.RunAsync("filter", "--gateway", Gateway, "--file", input, "--chunk-size", "5", "--output", output);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal($"10 filtered samples were written to {output} before the error below; the rest were not.\n" +
            $"error: {input} line 11: 'abc' is not a number.", result.Error.Trim().ReplaceLineEndings("\n"));
        var expected = new double[good.Length];
        FilterFactory.Create("kalman").Process(good, expected);
        Assert.Equal(expected, (await File.ReadAllLinesAsync(output)).Select(l => double.Parse(l, CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task AParameterTheServiceRefusesIsBadInputNamingIt()
    {
        var input = Path.Combine(_folder, "one.txt");
        await File.WriteAllTextAsync(input, "1\n2\n");

        var result = await CliRunner.RunAsync("filter", "--gateway", Gateway, "--file", input, "--param", "q=-1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: 400 from", result.Error);
        Assert.Contains("q", result.Error);
    }

    [Theory]
    [InlineData("--channel", "1", "--channel is for --wav input.")]
    [InlineData("--sample-rate", "0", "--sample-rate must be a positive number of Hz, was 0.")]
    [InlineData("--wav-out", "out.wav", "--wav-out needs --sample-rate for text input.")]
    [InlineData("--wav", "in.wav", "give --file or --wav, not both.")]
    [InlineData("--chunk-size", "0", "--chunk-size must be between 1 and 1000000, was 0.")]
    public async Task ABadOptionIsNamedWithExitTwoBeforeAnythingIsSent(string option, string value, string message)
    {
        var input = Path.Combine(_folder, "two.txt");
        await File.WriteAllTextAsync(input, "1\n2\n");

        // A gateway address nothing listens on: an option checked before any call never reaches it.
        var result = await CliRunner.RunAsync("filter", "--gateway", "http://127.0.0.1:1", "--file", input, option, value);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TextAndWavOutputTogetherAreRefusedWithExitTwoAndNoFileIsWritten()
    {
        var input = Path.Combine(_folder, "two.txt");
        await File.WriteAllTextAsync(input, "1\n2\n");
        var text = Path.Combine(_folder, "out.txt");
        var wav = Path.Combine(_folder, "out.wav");

        var result = await CliRunner.RunAsync("filter", "--gateway", "http://127.0.0.1:1", "--file", input, "--output", text, "--wav-out", wav, "--sample-rate", "8000");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("give --output or --wav-out, not both.", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(text) || File.Exists(wav), "No output file is written.");
    }

    [Theory]
    [InlineData("--param", "q", "--param 'q' must be NAME=VALUE.")]
    [InlineData("--gateway", "not a url", "--gateway 'not a url' is not an absolute http(s) URL.")]
    public async Task AnOptionIsNamedBeforeTheInputIsRead(string option, string value, string message)
    {
        // The input file does not exist: an option checked before the input is read is named instead of the file.
        string[] gateway = option == "--gateway" ? [] : ["--gateway", "http://127.0.0.1:1"];
        var result = await CliRunner.RunAsync(["filter", .. gateway, "--file", Path.Combine(_folder, "missing.txt"), option, value]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AGatewayThatCannotBeReachedIsAFailureExitOne()
    {
        var input = Path.Combine(_folder, "three.txt");
        await File.WriteAllTextAsync(input, "1\n2\n");

        var result = await CliRunner.RunAsync("filter", "--gateway", "http://127.0.0.1:1", "--file", input);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.StartsWith("error:", result.Error, StringComparison.Ordinal);
    }

    public async Task DisposeAsync()
    {
        await _gateway!.DisposeAsync();
        await _service!.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }
}
