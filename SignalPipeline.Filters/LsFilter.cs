using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SignalPipeline.Filters;

/// <summary>
/// Causal sliding-window least squares: for sample n take the last L = min(W, n+1) samples, fit a polynomial of
/// degree min(d, L-1) at positions 0..L-1 and output its value at L-1. The fit is linear in the samples, so each
/// output is a dot product with precomputed coefficients (<see cref="LsCoefficients"/>): a fixed FIR once L = W.
/// </summary>
public sealed class LsFilter : IStreamFilter, IBlockKernel, IInspectableFilter
{
    internal static readonly AlgorithmDescriptor Descriptor = new(
        "ls",
        "Causal sliding-window least-squares polynomial fit, evaluated at the newest sample.",
        [
            new("window", "Window length W in samples.", 31, 2, 1025, MinExclusive: false, MaxExclusive: false, IsInteger: true),
            new("degree", "Polynomial degree d, at most min(10, window - 1).", 2, 0, 10, MinExclusive: false, MaxExclusive: false, IsInteger: true),
        ]);

    /// <summary>The catalogue entry (state id 4).</summary>
    internal static readonly FilterRegistration Registration = new(
        4, Descriptor, parameters => new LsFilter(Parse(parameters)),
        (double[] values, long samples, ref StateReader reader) => Restore(FromValues(values), samples, ref reader));

    private readonly TapHistory _taps;
    private readonly int _window;
    private readonly LsCoefficients _coefficients;
    private readonly double[] _steady;

    /// <summary>Creates a filter at its initial state (no samples seen).</summary>
    public LsFilter(LsParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Validate(parameters);
        Parameters = parameters;
        _window = parameters.Window;
        _coefficients = LsCoefficients.For(parameters.Window, parameters.Degree);
        _steady = _coefficients.Row(parameters.Window);
        _taps = new TapHistory(_window - 1);
    }

    public LsParameters Parameters { get; }

    public string Algorithm => "ls";

    public long SamplesProcessed { get; private set; }

    public void Process(ReadOnlySpan<double> input, Span<double> output)
    {
        _taps.Process(this, input, output, SamplesProcessed);

        SamplesProcessed += input.Length;
    }

    void IBlockKernel.ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex)
    {
        var history = _window - 1;
        var i = 0;

        // Warm-up: L = n + 1 < W, each length with its own coefficients.
        for (; i < count && firstIndex + i < history; i++)
        {
            var length = (int)(firstIndex + i) + 1;
            output[i] = Dot(_coefficients.Row(length), buffer.AsSpan(history + i - (length - 1), length));
        }

        i = Steady(_steady, buffer, i, count, output);
        for (; i < count; i++)
        {
            output[i] = Dot(_steady, buffer.AsSpan(i, _window));
        }
    }

    /// <summary>
    /// The steady state, L = W: a fixed FIR (<see cref="VectorKernels.Fir"/>, at the widest accelerated vector width).
    /// Every lane runs exactly the FMA sequence of <see cref="Dot"/> (j ascending from 0), so each output is
    /// bit-identical to the scalar path: which samples land in vector lanes (a matter of chunking) never shows.
    /// Returns the index of the first output not computed.
    /// </summary>
    private static int Steady(double[] h, double[] buffer, int start, int count, Span<double> output)
    {
        if (start < count)
        {
            VectorKernels.Fir(ref MemoryMarshal.GetArrayDataReference(h), h.Length, ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(buffer), start),
                count - start, ref MemoryMarshal.GetReference(output[start..]));
        }

        return count;
    }

    /// <summary>sum_j h_j z_j, accumulated in index order with fused multiply-adds.</summary>
    private static double Dot(double[] h, ReadOnlySpan<double> z)
    {
        double acc = 0;
        for (var j = 0; j < h.Length; j++)
        {
            acc = Math.FusedMultiplyAdd(h[j], z[j], acc);
        }

        return acc;
    }

    /// <summary>The window's fill: how many of its samples are real (the rest are the zeros before the first sample).</summary>
    public FilterInspection Inspect()
    {
        var p = Parameters;
        var values = new Dictionary<string, double> { ["windowFill"] = Math.Min(SamplesProcessed, _window), ["window"] = _window };
        return new(Algorithm, SamplesProcessed, FilterInspector.Named(Descriptor, p.Window, p.Degree), values, new Dictionary<string, double[]>());
    }

    public bool StateIsFinite => _taps.IsFinite;

    public byte[] SaveState()
    {
        var p = Parameters;
        var writer = FilterState.Begin(new byte[FilterState.Size(2, _window - 1)], Registration.Id, SamplesProcessed, [p.Window, p.Degree]);
        _taps.WriteNewestFirst(ref writer);
        return writer.Finish();
    }

    internal static LsParameters Parse(IReadOnlyDictionary<string, double>? parameters)
        => FromValues(ParameterValidation.Resolve(Descriptor, parameters));

    internal static LsParameters FromValues(double[] v)
    {
        ParameterValidation.Check(Descriptor.Parameters[0], v[0]);
        ParameterValidation.Check(Descriptor.Parameters[1], v[1]);
        var p = new LsParameters((int)v[0], (int)v[1]);
        Validate(p);
        return p;
    }

    private static void Validate(LsParameters p)
    {
        var d = Descriptor.Parameters;
        ParameterValidation.Check(d[0], p.Window);
        ParameterValidation.Check(d[1], p.Degree);
        if (p.Degree > p.Window - 1)
        {
            throw new FilterParameterException("degree",
                $"Parameter 'degree' must be an integer in [0, min(10, window - 1)] = [0, {Math.Min(10, p.Window - 1)}] for window {p.Window}; got {p.Degree}.");
        }
    }

    internal static LsFilter Restore(LsParameters parameters, long samples, ref StateReader reader)
    {
        FilterFactory.CheckLength(ref reader, parameters.Window - 1, "ls");
        var filter = new LsFilter(parameters) { SamplesProcessed = samples };
        filter._taps.ReadNewestFirst(ref reader, samples);
        return filter;
    }
}
