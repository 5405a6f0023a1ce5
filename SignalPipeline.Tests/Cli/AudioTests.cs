using NAudio.Wave;
using SignalPipeline.Cli.Audio;
using SignalPipeline.Cli.Operations;

namespace SignalPipeline.Tests.Cli;

public sealed class AudioTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("audio-").FullName;

    [Fact]
    public void Pcm16RoundTripIsWithinHalfAStepAndClipsOutOfRangeSamples()
    {
        var path = Path.Combine(_folder, "pcm.wav");
        double[] samples = [0, 0.1, -0.1, 0.999, -1, 1.5, -3, 1e-6];
        using (var writer = new WavWriter(path, 16000, WavSampleFormat.Pcm16))
        {
            writer.Write(samples);
        }

        var read = WavSignal.Read(path);
        var values = read.Samples.ToArray();
        Assert.Equal((16000, 1, samples.Length), (read.SampleRate, read.Channels, values.Length));
        for (var i = 0; i < samples.Length; i++)
        {
            Assert.InRange(values[i] - Math.Clamp(samples[i], -1, 32767 / 32768.0), -0.5 / 32768, 0.5 / 32768);
        }
    }

    [Fact]
    public void Float32KeepsValuesBeyondFullScale()
    {
        var path = Path.Combine(_folder, "float.wav");
        using (var writer = new WavWriter(path, 44100, WavSampleFormat.Float32))
        {
            writer.Write([1.5, -2.25, 0.1]);
        }

        Assert.Equal([1.5, -2.25, (float)0.1], WavSignal.Read(path).Samples);
    }

    [Fact]
    public void AFrameCutShortAtTheEndOfAPcmFileIsLeftOutOfEveryChannelAsSampleCountSays()
    {
        // Stereo 16-bit, two whole frames and a left sample without its right one (a file cut short). Before: channel 0
        // got three samples, channel 1 two, and SampleCount said two (the 64-bit float path already left it out).
        var path = Path.Combine(_folder, "cut-short.wav");
        using (var writer = new WaveFileWriter(path, new WaveFormat(8000, 16, 2)))
        {
            foreach (short value in new short[] { 1000, -1000, 2000, -2000, 3000 })
            {
                writer.Write(BitConverter.GetBytes(value), 0, sizeof(short));
            }
        }

        var left = WavSignal.Read(path, channel: 0);
        Assert.Equal(2, left.SampleCount);
        Assert.Equal([1000 / 32768f, 2000 / 32768f], left.Samples.Select(s => (float)s));
        Assert.Equal(2, WavSignal.Read(path, channel: 1).Samples.Count());
    }

    [Fact]
    public void Float64IsReadWithoutLosingPrecisionFromTheChosenChannel()
    {
        var path = Path.Combine(_folder, "float64.wav");
        using (var writer = new WaveFileWriter(path, WaveFormat.CreateCustomFormat(WaveFormatEncoding.IeeeFloat, 8000, 2, 8000 * 16, 16, 64)))
        {
            foreach (var value in new[] { 0.1, -7.5, 1.0 / 3, 2.5e-9, -0.3, 4.0 })
            {
                writer.Write(BitConverter.GetBytes(value), 0, sizeof(double));
            }
        }

        var read = WavSignal.Read(path, channel: 1);
        Assert.Equal([-7.5, 2.5e-9, 4.0], read.Samples);
        Assert.Equal(8000, read.SampleRate);
        Assert.Equal([0.1, 1.0 / 3, -0.3], WavSignal.Read(path, channel: 0).Samples);
    }

    [Theory]
    [InlineData(16, 1, 0)]
    [InlineData(64, 2, 1)]
    public void AWavFileIsReadABufferAtATimeNotHeldWhole(int bits, int channels, int channel)
    {
        // Every sample was read into one array: a 4 GB file took 16 GB of doubles before the first chunk was sent.
        // 1M frames (8 MB as doubles), each value its frame index, so a frame read twice, skipped or from the other
        // channel shows; the reading may allocate a small part of the samples' size, on this thread (no other test's).
        const int Frames = 1 << 20;
        var path = Path.Combine(_folder, $"long-{bits}.wav");
        using (var writer = new WaveFileWriter(path, bits == 64
            ? WaveFormat.CreateCustomFormat(WaveFormatEncoding.IeeeFloat, 8000, channels, 8000 * channels * 8, channels * 8, 64)
            : new WaveFormat(8000, 16, channels)))
        {
            var frame = new byte[channels * bits / 8];
            for (var i = 0; i < Frames; i++)
            {
                for (var c = 0; c < channels; c++)
                {
                    var value = c == channel ? Value(i) : -1;
                    _ = bits == 64 ? BitConverter.TryWriteBytes(frame.AsSpan(c * 8), value) : BitConverter.TryWriteBytes(frame.AsSpan(c * 2), (short)(value * 32768));
                }

                writer.Write(frame, 0, frame.Length);
            }
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        long count = 0, wrong = 0;
        foreach (var sample in WavSignal.Read(path, channel).Samples)
        {
            wrong += sample == Value(count) ? 0 : 1;
            count++;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((Frames, 0L), (count, wrong));
        Assert.True(allocated < Frames * sizeof(double) / 8, $"reading {Frames} samples allocated {allocated} bytes");

        // A value exact in 16-bit PCM and in float64: frame i holds (i mod 32768) / 32768.
        static double Value(long frame) => frame % 32768 / 32768.0;
    }

    [Fact]
    public void NotAWavFileIsBadInput()
    {
        var path = Path.Combine(_folder, "text.wav");
        File.WriteAllText(path, "1\n2\n3\n");
        var error = Assert.Throws<UsageException>(() => WavSignal.Read(path));
        Assert.Contains("is not a WAV file", error.Message);
    }

    [Fact]
    public void TextReaderTakesOneNumberPerLineOrACsvColumnAndSkipsHeadersAndComments()
    {
        Assert.Equal([1.5, -2, 3e-3], SignalTextReader.Read(new StringReader("# comment\n1.5\n\n-2\n3e-3\n"), "t"));
        Assert.Equal([2.0, 4], SignalTextReader.Read(new StringReader("t;v\n1;2\n3;4\n"), "t", "v"));
        Assert.Equal([1.0, 3], SignalTextReader.Read(new StringReader("1\t2\n3\t4\n"), "t"));
        Assert.Equal([2.0, 4], SignalTextReader.Read(new StringReader("1,2\n3,4\n"), "t", "1"));
        Assert.Throws<UsageException>(() => SignalTextReader.Read(new StringReader("1\nNaN\n"), "t").ToList());
    }

    [Theory]
    [InlineData("title\nt,value\n0,1\n2,3\n", "1")]
    [InlineData("exported 2026-12-04\n\"t\";\"v\"\n0;1\n2;3\n", "1")]
    [InlineData("title\nt,value\n0,1\n2,3\n", "value")]
    public void AHeaderLineWithoutTheSampleColumnIsSkippedToo(string text, string column)
    {
        Assert.Equal([1.0, 3], SignalTextReader.Read(new StringReader(text), "t", column));
    }

    [Fact]
    public void ALineLongerThanTheLimitIsBadInputNamingItInsteadOfBeingHeldWhole()
    {
        // ReadLine held a line whole: 1.1 GB of zeros on stdin ended in an OutOfMemoryException and a stack trace.
        var text = "1\n" + new string('0', SignalTextReader.MaxLineChars + 1) + "\n2\n";

        var error = Assert.Throws<UsageException>(() => SignalTextReader.Read(new StringReader(text), "zeros.raw").ToList());

        Assert.Equal($"zeros.raw line 2: longer than {SignalTextReader.MaxLineChars} characters; not a text file of numbers (a WAV file goes with --wav).", error.Message);
        Assert.Equal([7.0], SignalTextReader.Read(new StringReader(new string(' ', SignalTextReader.MaxLineChars - 1) + "7"), "t"));
    }

    [Fact]
    public void LinesEndAtLfCrLfOrCrAlsoAcrossTheReadersBuffers()
    {
        // As TextReader.ReadLine splits them; 300,000 lines cross the 64 Ki-character reads many times, a CR LF pair too.
        var random = new Random(5);
        var text = new System.Text.StringBuilder();
        var expected = new List<double>();
        for (var i = 0; i < 300_000; i++)
        {
            expected.Add(i);
            text.Append(i).Append(random.Next(3) switch { 0 => "\n", 1 => "\r\n", _ => "\r" });
            if (random.Next(10) == 0)
            {
                text.Append("\r\n"); // a blank line
            }
        }

        Assert.Equal(expected, SignalTextReader.Read(new StringReader(text.ToString()), "t"));
        Assert.Equal([1.0, 2], SignalTextReader.Read(new StringReader("1\r\n2"), "t"));
    }

    [Theory]
    [InlineData("1\n2\n", "t line 1: no column 1 (the line has 1).")]
    [InlineData("t,v\n0,1\n2\n", "t line 3: no column 1 (the line has 1).")]
    public void ANumberLineWithoutTheSampleColumnIsStillAnError(string text, string message)
    {
        var error = Assert.Throws<UsageException>(() => SignalTextReader.Read(new StringReader(text), "t", "1").ToList());
        Assert.Equal(message, error.Message);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
