namespace SignalGenerator;

/// <summary>The kinds of test signal the generator produces.</summary>
public enum SignalShape
{
    /// <summary>A sine at a fixed frequency.</summary>
    Sine,

    /// <summary>A linear frequency sweep, restarting every few seconds.</summary>
    Chirp,

    /// <summary>A resonant second-order autoregressive process driven by white noise.</summary>
    Ar2,

    /// <summary>Notes of a harmonic tone (five partials, 1/k amplitudes) under an attack/decay envelope.</summary>
    Audio,
}

/// <summary>
/// One stream's signal: a <see cref="SignalShape"/> plus Gaussian noise, continuing across calls to <see cref="Fill"/>.
/// Everything (frequencies, AR poles, note pitches, noise) is drawn from the seed, so a source rebuilt with the same
/// seed produces the same samples, bit for bit.
/// </summary>
public sealed class SignalSource
{
    private static readonly double[] PentatonicRatios = [1.0, 9.0 / 8, 5.0 / 4, 3.0 / 2, 5.0 / 3, 2.0];

    private readonly Random _random;
    private readonly double _sampleRate;
    private readonly double _noiseStdDev;
    private readonly double _amplitude;
    private readonly double _frequency;
    private readonly double _chirpEndFrequency;
    private readonly double _chirpSeconds;
    private readonly double _a1;
    private readonly double _a2;
    private readonly double _drive;
    private readonly long _noteSamples;

    private long _n;
    private double _phase;
    private double _x1;
    private double _x2;
    private double _noteFrequency;
    private double? _spareGaussian;

    public SignalSource(SignalShape shape, int seed, double sampleRate, double noiseStdDev)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sampleRate);
        ArgumentOutOfRangeException.ThrowIfNegative(noiseStdDev);
        Shape = shape;
        _random = new Random(seed);
        _sampleRate = sampleRate;
        _noiseStdDev = noiseStdDev;
        _amplitude = 0.5 + _random.NextDouble();
        _phase = 2 * Math.PI * _random.NextDouble();

        switch (shape)
        {
            case SignalShape.Sine:
                // 0.2 % to 2 % of the sample rate: 4 to 40 Hz at 2 kHz, slow enough to see, many cycles per chunk set.
                Frequency = _frequency = sampleRate * (0.002 + 0.018 * _random.NextDouble());
                break;
            case SignalShape.Chirp:
                _frequency = sampleRate * 0.001;
                _chirpEndFrequency = sampleRate * (0.03 + 0.02 * _random.NextDouble());
                _chirpSeconds = 2 + 2 * _random.NextDouble();
                break;
            case SignalShape.Ar2:
                // Poles r·e^(±iθ): a damped resonance; the drive is scaled so the process has unit variance.
                var r = 0.95 + 0.04 * _random.NextDouble();
                var theta = 2 * Math.PI * (0.005 + 0.045 * _random.NextDouble());
                _a1 = 2 * r * Math.Cos(theta);
                _a2 = -r * r;
                var gain = (1 - _a2) / ((1 + _a2) * ((1 - _a2) * (1 - _a2) - _a1 * _a1));
                _drive = _amplitude / Math.Sqrt(gain);
                Frequency = theta * sampleRate / (2 * Math.PI);
                ArCoefficients = (_a1, _a2);
                break;
            case SignalShape.Audio:
                _frequency = sampleRate * (0.005 + 0.01 * _random.NextDouble());
                _noteSamples = Math.Max(1, (long)(sampleRate * 0.25));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(shape), shape, "Unknown signal shape.");
        }
    }

    public SignalShape Shape { get; }

    /// <summary>The sine's frequency or the AR(2) resonance, in Hz; null for shapes whose frequency moves.</summary>
    public double? Frequency { get; }

    /// <summary>AR(2) only: x[n] = a1·x[n-1] + a2·x[n-2] + drive·e[n].</summary>
    public (double A1, double A2)? ArCoefficients { get; }

    /// <summary>Writes the next <c>samples.Length</c> samples of the stream.</summary>
    public void Fill(Span<double> samples)
    {
        for (var i = 0; i < samples.Length; i++)
        {
            var clean = Shape switch
            {
                SignalShape.Sine => NextSine(),
                SignalShape.Chirp => NextChirp(),
                SignalShape.Ar2 => NextAr2(),
                _ => NextAudio(),
            };
            samples[i] = clean + (_noiseStdDev > 0 ? _noiseStdDev * NextGaussian() : 0);
            _n++;
        }
    }

    private double NextSine()
    {
        var value = _amplitude * Math.Sin(_phase);
        _phase = (_phase + 2 * Math.PI * _frequency / _sampleRate) % (2 * Math.PI);
        return value;
    }

    private double NextChirp()
    {
        var t = _n / _sampleRate % _chirpSeconds;
        var frequency = _frequency + (_chirpEndFrequency - _frequency) * t / _chirpSeconds;
        var value = _amplitude * Math.Sin(_phase);
        _phase = (_phase + 2 * Math.PI * frequency / _sampleRate) % (2 * Math.PI);
        return value;
    }

    private double NextAr2()
    {
        var x = _a1 * _x1 + _a2 * _x2 + _drive * NextGaussian();
        _x2 = _x1;
        _x1 = x;
        return x;
    }

    private double NextAudio()
    {
        var inNote = _n % _noteSamples;
        if (inNote == 0)
        {
            _noteFrequency = _frequency * PentatonicRatios[_random.Next(PentatonicRatios.Length)];
        }

        var t = inNote / _sampleRate;
        var envelope = t < 0.01 ? t / 0.01 : Math.Exp(-(t - 0.01) / 0.08);
        var value = 0.0;
        for (var k = 1; k <= 5; k++)
        {
            value += Math.Sin(k * _phase) / k;
        }

        _phase = (_phase + 2 * Math.PI * _noteFrequency / _sampleRate) % (2 * Math.PI);
        return _amplitude * envelope * value;
    }

    /// <summary>Box–Muller: two independent standard normals per pair of uniforms.</summary>
    private double NextGaussian()
    {
        if (_spareGaussian is { } spare)
        {
            _spareGaussian = null;
            return spare;
        }

        var u1 = 1.0 - _random.NextDouble();
        var u2 = _random.NextDouble();
        var radius = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareGaussian = radius * Math.Sin(2 * Math.PI * u2);
        return radius * Math.Cos(2 * Math.PI * u2);
    }
}
