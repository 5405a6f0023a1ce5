using NAudio.Wave;
using SignalPipeline.Cli.Operations;

namespace SignalPipeline.Cli.Audio;

/// <summary>
/// One channel of a WAV file: its header, and its samples as doubles in [-1, 1], read from the file as
/// <see cref="Samples"/> is enumerated, a buffer of <see cref="BufferFrames"/> frames at a time, so a file of any size
/// takes the same memory (the verbs send it chunk by chunk).
/// </summary>
public sealed class WavSignal
{
    /// <summary>Frames read from the file at a time.</summary>
    internal const int BufferFrames = 4096;

    private readonly string _path;
    private readonly int _channel;

    private WavSignal(string path, int channel, WaveFormat format, long frames)
    {
        _path = path;
        _channel = channel;
        SampleRate = format.SampleRate;
        Channels = format.Channels;
        Encoding = $"{format.Encoding} {format.BitsPerSample}-bit";
        SampleCount = frames;
    }

    public int SampleRate { get; }

    public int Channels { get; }

    /// <summary>The sample encoding, e.g. <c>Pcm 16-bit</c>.</summary>
    public string Encoding { get; }

    /// <summary>Samples of the channel as the header gives the data's size (a file cut short holds fewer).</summary>
    public long SampleCount { get; }

    /// <summary>The channel's samples, read from the file on each enumeration.</summary>
    public IEnumerable<double> Samples => ReadSamples();

    /// <summary>
    /// Reads the header of <paramref name="path"/> with NAudio (PCM 8/16/24/32-bit and IEEE float) and checks the
    /// channel and encoding, so bad input is refused before anything is sent. A mono file needs no channel; a
    /// multi-channel one needs <paramref name="channel"/> (0-based), so nothing is mixed or dropped silently.
    /// </summary>
    public static WavSignal Read(string path, int? channel = null)
    {
        using var reader = Open(path);
        var format = reader.WaveFormat;
        var channels = format.Channels;
        var chosen = channel ?? 0;
        if (channel is null && channels > 1)
        {
            throw new UsageException($"{path} has {channels} channels: choose one with --channel 0..{channels - 1}.");
        }

        if (chosen < 0 || chosen >= channels)
        {
            throw new UsageException($"--channel {chosen} is not a channel of {path} (it has {channels}: 0..{channels - 1}).");
        }

        if (!IsFloat64(format))
        {
            try
            {
                reader.ToSampleProvider();
            }
            catch (ArgumentException ex)
            {
                throw new UsageException($"{path}: unsupported WAV encoding {format.Encoding} {format.BitsPerSample}-bit ({ex.Message}).");
            }
        }

        return new WavSignal(path, chosen, format, reader.Length / format.BlockAlign);
    }

    private static WaveFileReader Open(string path)
    {
        try
        {
            return new WaveFileReader(path);
        }
        catch (Exception ex) when (ex is FormatException or EndOfStreamException)
        {
            // A file cut short inside its header ends NAudio's reading with EndOfStreamException, not FormatException.
            throw new UsageException($"{path} is not a WAV file NAudio can read: {ex.Message}");
        }
    }

    // NAudio's sample providers are float: a 64-bit float file is read as it is, so no sample loses precision.
    private static bool IsFloat64(WaveFormat format) => format.Encoding == WaveFormatEncoding.IeeeFloat && format.BitsPerSample == 64;

    private IEnumerable<double> ReadSamples()
    {
        using var reader = Open(_path);
        var channels = reader.WaveFormat.Channels;
        if (IsFloat64(reader.WaveFormat))
        {
            var bytes = new byte[BufferFrames * channels * sizeof(double)];
            int read;
            while ((read = reader.Read(bytes, 0, bytes.Length)) > 0)
            {
                // A frame cut short at the end of the file is left out.
                for (var offset = _channel * sizeof(double); offset + (channels - _channel) * sizeof(double) <= read; offset += channels * sizeof(double))
                {
                    yield return BitConverter.ToDouble(bytes, offset);
                }
            }

            yield break;
        }

        var provider = reader.ToSampleProvider();
        var buffer = new float[BufferFrames * channels];
        int count;
        while ((count = provider.Read(buffer)) > 0)
        {
            // Whole frames only, as for 64-bit floats and SampleCount: NAudio returns whole samples, so a frame cut short
            // at the end of the file would give its first channels one sample more than the others.
            for (var i = _channel; i - _channel + channels <= count; i += channels)
            {
                yield return buffer[i];
            }
        }
    }
}

/// <summary>How <see cref="WavWriter"/> stores samples.</summary>
public enum WavSampleFormat
{
    /// <summary>IEEE 32-bit float: every sample a float32 chunk carries, exactly; values beyond ±1 are kept.</summary>
    Float32,

    /// <summary>16-bit PCM: what every player takes; values are clipped to [-1, 1) and rounded to 1/32768.</summary>
    Pcm16,
}

/// <summary>Writes a mono WAV file sample by sample (NAudio's <see cref="WaveFileWriter"/>); the header is final on dispose.</summary>
public sealed class WavWriter(string path, int sampleRate, WavSampleFormat format) : IDisposable
{
    private readonly WaveFileWriter _writer = new(path, format == WavSampleFormat.Float32
        ? WaveFormat.CreateIeeeFloatWaveFormat(sampleRate, 1)
        : new WaveFormat(sampleRate, 16, 1));

    public long SamplesWritten { get; private set; }

    public void Write(ReadOnlySpan<double> samples)
    {
        if (format == WavSampleFormat.Float32)
        {
            var floats = new float[samples.Length];
            for (var i = 0; i < samples.Length; i++)
            {
                floats[i] = (float)samples[i];
            }

            _writer.WriteSamples(floats, 0, floats.Length);
        }
        else
        {
            var shorts = new short[samples.Length];
            for (var i = 0; i < samples.Length; i++)
            {
                shorts[i] = ToPcm16(samples[i]);
            }

            _writer.WriteSamples(shorts, 0, shorts.Length);
        }

        SamplesWritten += samples.Length;
    }

    /// <summary>The inverse of NAudio's reader (sample / 32768), rounded, clipped to the 16-bit range.</summary>
    public static short ToPcm16(double sample) => (short)Math.Clamp(Math.Round(sample * 32768.0), short.MinValue, short.MaxValue);

    public void Dispose() => _writer.Dispose();
}
