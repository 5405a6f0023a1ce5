using SignalGenerator;

namespace SignalPipeline.Tests.SignalGenerator;

public sealed class SignalSourceTests
{
    private const double SampleRate = 2000;

    public static TheoryData<SignalShape> Shapes => new(Enum.GetValues<SignalShape>());

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Same_seed_gives_the_same_samples_whatever_the_chunking(SignalShape shape)
    {
        var whole = new double[4096];
        new SignalSource(shape, 7, SampleRate, 0.05).Fill(whole);

        var chunked = new double[4096];
        var source = new SignalSource(shape, 7, SampleRate, 0.05);
        for (var offset = 0; offset < chunked.Length; offset += 256)
        {
            source.Fill(chunked.AsSpan(offset, 256));
        }

        Assert.Equal(whole.Select(BitConverter.DoubleToInt64Bits), chunked.Select(BitConverter.DoubleToInt64Bits));

        var other = new double[4096];
        new SignalSource(shape, 8, SampleRate, 0.05).Fill(other);
        Assert.NotEqual(whole, other);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Samples_are_finite_bounded_and_not_constant(SignalShape shape)
    {
        var samples = new double[200_000];
        new SignalSource(shape, 3, SampleRate, 0.05).Fill(samples);

        Assert.All(samples, x => Assert.True(double.IsFinite(x) && Math.Abs(x) < 20, $"{x}"));
        Assert.True(StdDev(samples) > 0.1, $"std dev {StdDev(samples)}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_sine_crosses_zero_twice_per_cycle(int seed)
    {
        var source = new SignalSource(SignalShape.Sine, seed, SampleRate, 0);
        var samples = new double[20_000];
        source.Fill(samples);

        var expected = 2 * source.Frequency!.Value * samples.Length / SampleRate;
        Assert.InRange(ZeroCrossings(samples), expected - 2, expected + 2);
        Assert.InRange(source.Frequency.Value, 0.002 * SampleRate, 0.02 * SampleRate);
    }

    [Fact]
    public void Noise_has_the_configured_standard_deviation()
    {
        var clean = new double[100_000];
        var noisy = new double[100_000];
        new SignalSource(SignalShape.Sine, 5, SampleRate, 0).Fill(clean);

        // Same seed: the same sine (its parameters are drawn before any noise), plus noise.
        new SignalSource(SignalShape.Sine, 5, SampleRate, 0.2).Fill(noisy);

        var residual = noisy.Zip(clean, (a, b) => a - b).ToArray();
        Assert.InRange(StdDev(residual), 0.19, 0.21);
        Assert.InRange(residual.Average(), -0.01, 0.01);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void An_ar2_stream_has_the_autocorrelation_of_its_coefficients(int seed)
    {
        var source = new SignalSource(SignalShape.Ar2, seed, SampleRate, 0);
        var samples = new double[200_000];
        source.Fill(samples);
        var (a1, a2) = source.ArCoefficients!.Value;

        // Yule-Walker: rho1 = a1 / (1 - a2); a Gaussian process crosses zero between two samples with
        // probability acos(rho1) / pi.
        var rho1 = a1 / (1 - a2);
        Assert.InRange(Autocorrelation(samples, 1), rho1 - 0.02, rho1 + 0.02);
        var expected = samples.Length * Math.Acos(rho1) / Math.PI;
        Assert.InRange(ZeroCrossings(samples), expected * 0.85, expected * 1.15);
    }

    [Fact]
    public void A_chirp_sweeps_upward()
    {
        var samples = new double[(int)(SampleRate * 2)];
        new SignalSource(SignalShape.Chirp, 4, SampleRate, 0).Fill(samples);

        var quarter = samples.Length / 4;
        Assert.True(ZeroCrossings(samples.AsSpan(0, quarter)) * 2 < ZeroCrossings(samples.AsSpan(3 * quarter, quarter)));
    }

    [Fact]
    public void Audio_notes_start_loud_and_decay()
    {
        var samples = new double[(int)(SampleRate * 2)];
        new SignalSource(SignalShape.Audio, 9, SampleRate, 0).Fill(samples);

        // Notes last 0.25 s and decay with a 80 ms time constant: the first half of each note carries far
        // more energy than the second (e^-3 in amplitude between the halves' starts).
        var note = (int)(SampleRate * 0.25);
        for (var start = 0; start < samples.Length; start += note)
        {
            var first = Rms(samples.AsSpan(start, note / 2));
            var second = Rms(samples.AsSpan(start + note / 2, note / 2));
            Assert.True(first > 3 * second, $"note at {start}: rms {first} then {second}");
        }
    }

    private static int ZeroCrossings(ReadOnlySpan<double> samples)
    {
        var count = 0;
        for (var i = 1; i < samples.Length; i++)
        {
            if (samples[i - 1] < 0 != samples[i] < 0)
            {
                count++;
            }
        }

        return count;
    }

    private static double StdDev(IReadOnlyCollection<double> samples)
    {
        var mean = samples.Average();
        return Math.Sqrt(samples.Sum(x => (x - mean) * (x - mean)) / samples.Count);
    }

    private static double Rms(ReadOnlySpan<double> samples)
    {
        var sum = 0.0;
        foreach (var x in samples)
        {
            sum += x * x;
        }

        return Math.Sqrt(sum / samples.Length);
    }

    private static double Autocorrelation(double[] samples, int lag)
    {
        var mean = samples.Average();
        double numerator = 0, denominator = 0;
        for (var i = 0; i < samples.Length; i++)
        {
            denominator += (samples[i] - mean) * (samples[i] - mean);
            if (i >= lag)
            {
                numerator += (samples[i] - mean) * (samples[i - lag] - mean);
            }
        }

        return numerator / denominator;
    }

    /// <summary>At the largest noise the settings take, every sample of every shape is encoded as Float32 (docs/messages.md).</summary>
    [Theory]
    [InlineData(SignalShape.Sine)]
    [InlineData(SignalShape.Chirp)]
    [InlineData(SignalShape.Ar2)]
    [InlineData(SignalShape.Audio)]
    public void At_the_largest_noise_every_sample_fits_Float32(SignalShape shape)
    {
        var source = new SignalSource(shape, seed: 3, sampleRate: 2000, noiseStdDev: GeneratorOptions.MaxNoise);
        var samples = new double[1 << 16];
        for (var chunk = 0; chunk < 16; chunk++)
        {
            source.Fill(samples);
            var message = SignalPipeline.Messages.SampleCodec.ToMessage(new SignalPipeline.Messages.SampleChunk("s", chunk, samples)
            {
                Format = SignalPipeline.Messages.SampleFormat.Float32,
            });
            Assert.NotEmpty(message.Value);
        }
    }
}
