using NAudio.Wave;
using SignalPipeline.Cli.Operations;

namespace SignalPipeline.Cli.Audio;

/// <summary>One channel of a WAV file as doubles in [-1, 1], and its sample rate.</summary>
public sealed record WavSignal(double[] Samples, int SampleRate, int Channels, string Encoding)
{
    /// <summary>
    /// Reads <paramref name="path"/> with NAudio (PCM 8/16/24/32-bit and IEEE float). A mono file needs no channel; a
    /// multi-channel one needs <paramref name="channel"/> (0-based), so nothing is mixed or dropped silently.
    /// </summary>
    public static WavSignal Read(string path, int? channel = null)
    {
        WaveFileReader reader;
        try
        {
            reader = new WaveFileReader(path);
        }
        catch (Exception ex) when (ex is FormatException or EndOfStreamException)
        {
            // A file cut short inside its header ends NAudio's reading with EndOfStreamException, not FormatException.
            throw new UsageException($"{path} is not a WAV file NAudio can read: {ex.Message}");
        }

        using (reader)
        {
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

            // NAudio's sample providers are float: a 64-bit float file is read as it is, so no sample loses precision.
            if (format.Encoding == WaveFormatEncoding.IeeeFloat && format.BitsPerSample == 64)
            {
                return new WavSignal(ReadFloat64(reader, channels, chosen), format.SampleRate, channels, $"{format.Encoding} {format.BitsPerSample}-bit");
            }

            ISampleProvider provider;
            try
            {
                provider = reader.ToSampleProvider();
            }
            catch (ArgumentException ex)
            {
                throw new UsageException($"{path}: unsupported WAV encoding {format.Encoding} {format.BitsPerSample}-bit ({ex.Message}).");
            }

            var samples = new List<double>(checked((int)Math.Min(int.MaxValue, reader.SampleCount)));
            var buffer = new float[4096 * channels];
            int read;
            while ((read = provider.Read(buffer)) > 0)
            {
                for (var i = chosen; i < read; i += channels)
                {
                    samples.Add(buffer[i]);
                }
            }

            return new WavSignal([.. samples], format.SampleRate, channels, $"{format.Encoding} {format.BitsPerSample}-bit");
        }
    }

    private static double[] ReadFloat64(WaveFileReader reader, int channels, int chosen)
    {
        var frames = checked((int)(reader.Length / (sizeof(double) * channels)));
        var samples = new double[frames];
        var frame = new byte[sizeof(double) * channels];
        for (var i = 0; i < frames && reader.Read(frame, 0, frame.Length) == frame.Length; i++)
        {
            samples[i] = BitConverter.ToDouble(frame, chosen * sizeof(double));
        }

        return samples;
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
