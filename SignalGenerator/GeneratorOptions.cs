using Microsoft.Extensions.Options;
using SignalPipeline.Messages;

namespace SignalGenerator;

/// <summary>The <c>Generator</c> configuration section (env: <c>Generator__Rate=0</c> etc.).</summary>
public sealed class GeneratorOptions
{
    public const string SectionName = "Generator";

    /// <summary>Off: the service runs (health endpoints) but produces nothing.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Number of streams, ids <c>{StreamPrefix}1</c> .. <c>{StreamPrefix}N</c>.</summary>
    public int Streams { get; set; } = 4;

    public string StreamPrefix { get; set; } = "sensor-";

    /// <summary>Samples per chunk (per record).</summary>
    public int ChunkSize { get; set; } = 256;

    /// <summary>Samples per second per stream; 0 = as fast as the producer accepts (benchmarks).</summary>
    public double Rate { get; set; } = 2000;

    /// <summary>The nominal sample rate written in each chunk and used to place the signals' frequencies (Hz).</summary>
    public double SampleRate { get; set; } = 2000;

    /// <summary>Wire form: <c>Json</c>, <c>Float64</c> or <c>Float32</c>.</summary>
    public SampleFormat Format { get; set; } = SampleFormat.Json;

    /// <summary>Comma-separated shapes given to the streams in turn: sine, chirp, ar2, audio.</summary>
    public string Shapes { get; set; } = "sine,chirp,ar2,audio";

    /// <summary>Standard deviation of the Gaussian noise added to every sample.</summary>
    public double Noise { get; set; } = 0.05;

    /// <summary>Seed of all randomness; stream i uses <see cref="StreamSeed"/>(Seed, i).</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Chunks per stream after which the generator stops producing; 0 = no end.</summary>
    public long MaxChunks { get; set; }

    /// <summary>Where chunks go; when unset, <c>INPUT_TOPIC</c>, else <c>sample-input</c>.</summary>
    public string? Topic { get; set; }

    public string StreamId(int index) => $"{StreamPrefix}{index + 1}";

    public SignalShape ShapeOf(int index)
    {
        var shapes = ParseShapes(Shapes);
        return shapes[index % shapes.Count];
    }

    /// <summary>Stream <paramref name="index"/>'s seed: fixed arithmetic (not <see cref="HashCode"/>, which differs per process).</summary>
    public static int StreamSeed(int seed, int index) => unchecked(seed * 1_000_003 + index * 7_919 + 17);

    public static IReadOnlyList<SignalShape> ParseShapes(string shapes)
    {
        var result = new List<SignalShape>();
        foreach (var name in shapes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Enum.TryParse<SignalShape>(name, ignoreCase: true, out var shape) || !Enum.IsDefined(shape))
            {
                throw new FormatException($"'{name}' is not a signal shape (sine, chirp, ar2, audio)");
            }

            result.Add(shape);
        }

        return result.Count > 0 ? result : throw new FormatException("no shape given");
    }
}

/// <summary>Checks every setting at start, naming it (<c>Generator:ChunkSize</c>) and the allowed range.</summary>
public sealed class GeneratorOptionsValidator : IValidateOptions<GeneratorOptions>
{
    public ValidateOptionsResult Validate(string? name, GeneratorOptions options)
    {
        var failures = new List<string>();
        const string s = GeneratorOptions.SectionName;
        if (options.Streams is < 1 or > 10_000)
        {
            failures.Add($"{s}:Streams must be between 1 and 10000, was {options.Streams}.");
        }

        if (options.ChunkSize < 1 || options.ChunkSize > DecodeLimits.Default.MaxSamples)
        {
            failures.Add($"{s}:ChunkSize must be between 1 and {DecodeLimits.Default.MaxSamples} (the decoders' limit), was {options.ChunkSize}.");
        }

        if (!double.IsFinite(options.Rate) || options.Rate < 0)
        {
            failures.Add($"{s}:Rate must be >= 0 samples/s per stream (0 = as fast as possible), was {options.Rate}.");
        }

        if (!double.IsFinite(options.SampleRate) || options.SampleRate <= 0)
        {
            failures.Add($"{s}:SampleRate must be a positive number of Hz, was {options.SampleRate}.");
        }

        if (!double.IsFinite(options.Noise) || options.Noise < 0)
        {
            failures.Add($"{s}:Noise must be >= 0, was {options.Noise}.");
        }

        if (!Enum.IsDefined(options.Format))
        {
            failures.Add($"{s}:Format must be Json, Float64 or Float32, was {options.Format}.");
        }

        if (options.MaxChunks < 0)
        {
            failures.Add($"{s}:MaxChunks must be >= 0 (0 = no end), was {options.MaxChunks}.");
        }

        if (string.IsNullOrWhiteSpace(options.StreamPrefix))
        {
            failures.Add($"{s}:StreamPrefix must not be empty.");
        }

        if (options.Topic is { } topic && string.IsNullOrWhiteSpace(topic))
        {
            failures.Add($"{s}:Topic must not be blank.");
        }

        try
        {
            GeneratorOptions.ParseShapes(options.Shapes ?? "");
        }
        catch (FormatException ex)
        {
            failures.Add($"{s}:Shapes: {ex.Message}, was '{options.Shapes}'.");
        }

        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}
