using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SignalPipeline.Filters;

/// <summary>
/// Scalar random-walk Kalman filter. Per sample: p += q; k = p / (p + r); x += k (z - x); p = (1 - k) p; y = x.
/// </summary>
/// <remarks>
/// The p/k sequence does not depend on the data and reaches an exact floating-point fixed point after a few
/// hundred samples; from then on k is a constant and the loop is one subtraction and one fused multiply-add per
/// sample. Both phases use the same x update (fma(k, z - x, x)), so chunking and the switch between phases never
/// change a bit of the output.
/// </remarks>
public sealed class KalmanFilter : IStreamFilter
{
    internal static readonly AlgorithmDescriptor Descriptor = new(
        "kalman",
        "Scalar random-walk Kalman filter: p += q; k = p/(p+r); x += k(z - x); p = (1-k)p; output x.",
        [
            new("q", "Process noise variance.", 1e-5, 0, double.MaxValue, MinExclusive: true, MaxExclusive: false, IsInteger: false),
            new("r", "Measurement noise variance.", 0.01, 0, double.MaxValue, MinExclusive: true, MaxExclusive: false, IsInteger: false),
            new("x0", "Initial estimate.", 0, -double.MaxValue, double.MaxValue, MinExclusive: false, MaxExclusive: false, IsInteger: false),
            new("p0", "Initial error variance.", 1, 0, double.MaxValue, MinExclusive: false, MaxExclusive: false, IsInteger: false),
        ]);

    private readonly double _q;
    private readonly double _r;
    private double _x;
    private double _p;

    /// <summary>Creates a filter at its initial state (x = x0, p = p0).</summary>
    public KalmanFilter(KalmanParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Validate(parameters);
        Parameters = parameters;
        _q = parameters.Q;
        _r = parameters.R;
        _x = parameters.X0;
        _p = parameters.P0;
    }

    public KalmanParameters Parameters { get; }

    public string Algorithm => "kalman";

    public long SamplesProcessed { get; private set; }

    /// <summary>Current estimate x.</summary>
    public double Estimate => _x;

    /// <summary>Current error variance p.</summary>
    public double ErrorVariance => _p;

    public void Process(ReadOnlySpan<double> input, Span<double> output)
    {
        if (input.Length != output.Length)
        {
            throw new ArgumentException($"Output length {output.Length} differs from input length {input.Length}.", nameof(output));
        }

        var n = input.Length;
        ref var z = ref MemoryMarshal.GetReference(input);
        ref var y = ref MemoryMarshal.GetReference(output);
        double q = _q, r = _r, x = _x, p = _p;
        var i = 0;

        // Transient: follow the p/k recursion sample by sample until p stops changing.
        for (; i < n; i++)
        {
            var pq = p + q;
            var k = pq / (pq + r);
            var next = (1 - k) * pq;
            if (next == p)
            {
                x = Steady(ref Unsafe.Add(ref z, i), ref Unsafe.Add(ref y, i), n - i, x, k);
                i = n;
                break;
            }

            x = Math.FusedMultiplyAdd(k, Unsafe.Add(ref z, i) - x, x);
            Unsafe.Add(ref y, i) = x;
            p = next;
        }

        _x = x;
        _p = p;
        SamplesProcessed += n;
    }

    /// <summary>The steady state: k constant. Unrolled by four; each step is the same sub + fma as the transient.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Steady(ref double z, ref double y, int count, double x, double k)
    {
        var i = 0;
        for (; i + 4 <= count; i += 4)
        {
            x = Math.FusedMultiplyAdd(k, Unsafe.Add(ref z, i) - x, x);
            Unsafe.Add(ref y, i) = x;
            x = Math.FusedMultiplyAdd(k, Unsafe.Add(ref z, i + 1) - x, x);
            Unsafe.Add(ref y, i + 1) = x;
            x = Math.FusedMultiplyAdd(k, Unsafe.Add(ref z, i + 2) - x, x);
            Unsafe.Add(ref y, i + 2) = x;
            x = Math.FusedMultiplyAdd(k, Unsafe.Add(ref z, i + 3) - x, x);
            Unsafe.Add(ref y, i + 3) = x;
        }

        for (; i < count; i++)
        {
            x = Math.FusedMultiplyAdd(k, Unsafe.Add(ref z, i) - x, x);
            Unsafe.Add(ref y, i) = x;
        }

        return x;
    }

    public byte[] SaveState()
    {
        var p = Parameters;
        var writer = FilterState.Begin(new byte[FilterState.Size(4, 2)], FilterFactory.KalmanId, SamplesProcessed, [p.Q, p.R, p.X0, p.P0]);
        writer.Write(_x);
        writer.Write(_p);
        return writer.Finish();
    }

    internal static KalmanParameters Parse(IReadOnlyDictionary<string, double>? parameters)
        => FromValues(ParameterValidation.Resolve(Descriptor, parameters));

    internal static KalmanParameters FromValues(double[] v)
    {
        var p = new KalmanParameters(v[0], v[1], v[2], v[3]);
        Validate(p);
        return p;
    }

    private static void Validate(KalmanParameters p)
    {
        var d = Descriptor.Parameters;
        ParameterValidation.Check(d[0], p.Q);
        ParameterValidation.Check(d[1], p.R);
        ParameterValidation.Check(d[2], p.X0);
        ParameterValidation.Check(d[3], p.P0);
    }

    internal static KalmanFilter Restore(KalmanParameters parameters, long samples, ref StateReader reader)
    {
        FilterFactory.CheckLength(ref reader, 2, "kalman");
        var filter = new KalmanFilter(parameters) { SamplesProcessed = samples };
        filter._x = reader.Read("x");
        filter._p = reader.Read("p");
        if (filter._p < 0)
        {
            throw new InvalidFilterStateException($"Filter state holds a negative error variance p ({ParameterValidation.Format(filter._p)}).");
        }

        return filter;
    }
}
