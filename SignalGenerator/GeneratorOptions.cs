using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using SignalPipeline.Messages;

namespace SignalGenerator;

/// <summary>
/// The <c>Generator</c> configuration section (env: <c>Generator__Rate=0</c> etc.), validated at start by data annotations
/// (<see cref="GeneratorOptionsValidator"/>, generated) and <see cref="Validate"/>; each message names the setting
/// (<c>Generator:ChunkSize</c>) and the allowed range.
/// </summary>
public sealed class GeneratorOptions : IValidatableObject
{
    public const string SectionName = "Generator";

    /// <summary>Off: the service runs (health endpoints) but produces nothing.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Number of streams, ids <c>{StreamPrefix}1</c> .. <c>{StreamPrefix}N</c>.</summary>
    [SettingRange(1, 10_000)]
    public int Streams { get; set; } = 4;

    [SettingRequired]
    public string StreamPrefix { get; set; } = "sensor-";

    /// <summary>Samples per chunk (per record).</summary>
    public int ChunkSize { get; set; } = 256;

    /// <summary>Samples per second per stream; 0 = as fast as the producer accepts (benchmarks).</summary>
    [SettingMinimum(0)]
    public double Rate { get; set; } = 2000;

    /// <summary>The nominal sample rate written in each chunk and used to place the signals' frequencies (Hz).</summary>
    [SettingMinimum(0, exclusive: true)]
    public double SampleRate { get; set; } = 2000;

    /// <summary>Wire form: <c>Json</c>, <c>Float64</c> or <c>Float32</c>.</summary>
    public SampleFormat Format { get; set; } = SampleFormat.Json;

    /// <summary>Comma-separated shapes given to the streams in turn: sine, chirp, ar2, audio.</summary>
    public string Shapes { get; set; } = "sine,chirp,ar2,audio";

    /// <summary>Standard deviation of the Gaussian noise added to every sample, at most <see cref="MaxNoise"/>.</summary>
    [SettingMinimum(0)]
    public double Noise { get; set; } = 0.05;

    /// <summary>
    /// The largest <see cref="Noise"/>: a sample is the shape (below 4 in magnitude) plus at most about 8.6 standard
    /// deviations (Box–Muller from doubles), so every sample stays within Float32's range (3.4e38), and a double's. Until
    /// 2026-12-06 any noise passed, and 1e39 made the Float32 encoder throw at the first chunk, stopping the worker.
    /// </summary>
    public const double MaxNoise = 1e36;

    /// <summary>Seed of all randomness; stream i uses <see cref="StreamSeed"/>(Seed, i).</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Chunks per stream after which the generator stops producing; 0 = no end.</summary>
    [SettingRange(0, long.MaxValue)]
    public long MaxChunks { get; set; }

    /// <summary>
    /// Seconds chunks may wait for the broker's answer (delivered or refused) before <c>/health</c> turns unhealthy:
    /// a broker that answers metadata but takes no chunk leaves them waiting up to librdkafka's
    /// <c>delivery.timeout.ms</c> (300 s) before any is refused.
    /// </summary>
    [SettingRange(1, 3600)]
    public int DeliveryStallSeconds { get; set; } = 30;

    /// <summary>Where chunks go; when unset, <c>INPUT_TOPIC</c>, else <c>sample-input</c>.</summary>
    public string? Topic { get; set; }

    /// <summary>The checks an attribute cannot state (limits from other types, lists, enums).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        const string s = SectionName;
        if (ChunkSize < 1 || ChunkSize > DecodeLimits.Default.MaxSamples)
        {
            yield return new($"{s}:ChunkSize = {ChunkSize} is out of range [1, {DecodeLimits.Default.MaxSamples}] (the decoders' limit).");
        }

        if (Noise > MaxNoise)
        {
            yield return new($"{s}:Noise = {Noise.ToString(System.Globalization.CultureInfo.InvariantCulture)} is out of range [0, {MaxNoise.ToString(System.Globalization.CultureInfo.InvariantCulture)}]: "
                + "larger noise makes samples beyond Float32's range.");
        }

        if (!Enum.IsDefined(Format))
        {
            yield return new($"{s}:Format must be Json, Float64 or Float32, was {Format}.");
        }

        // The longest id is the last stream's; the codecs refuse a stream id over their limit.
        if (StreamPrefix is { Length: > 0 } && System.Text.Encoding.UTF8.GetByteCount(StreamId(Math.Max(Streams, 1) - 1)) is var longest
            && longest > DecodeLimits.Default.MaxStreamIdBytes)
        {
            yield return new($"{s}:StreamPrefix '{StreamPrefix}' makes stream ids of up to {longest} UTF-8 bytes; a stream id is at most {DecodeLimits.Default.MaxStreamIdBytes}.");
        }

        if (Topic is { } topic && string.IsNullOrWhiteSpace(topic))
        {
            // Unset, the topic is INPUT_TOPIC's (GeneratorServiceExtensions): name both, the blank value may be either's.
            yield return new($"{s}:Topic (INPUT_TOPIC when {s}:Topic is unset) must not be blank, was '{topic}'.");
        }

        string? shapes = null;
        try
        {
            ParseShapes(Shapes ?? "");
        }
        catch (FormatException ex)
        {
            shapes = $"{s}:Shapes: {ex.Message}, was '{Shapes}'.";
        }

        if (shapes is not null)
        {
            yield return new(shapes);
        }
    }

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
[OptionsValidator]
public sealed partial class GeneratorOptionsValidator : IValidateOptions<GeneratorOptions>
{
}
