using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SignalPipeline.Filters;

/// <summary>
/// Scalar random-walk Kalman filter. Per sample: p += q; k = p / (p + r); x += k (z - x); p = (1 - k) p; y = x.
/// </summary>
/// <remarks>
/// The p/k sequence does not depend on the data and reaches an exact floating-point fixed point after a number of
/// samples that grows with the filter's time constant sqrt(r / q), 13 to 27 time constants in docs/filters.md's cases
/// (from sample 547 on with the defaults, whose time constant is about 32); from then on k is a constant and the update
/// is rewritten so that one fused multiply-add is on the dependency chain (see <see cref="Steady"/>). The switch happens at a sample index fixed by the parameters alone,
/// and the state carries everything either phase reads, so chunking never changes a bit of the output.
/// </remarks>
public sealed class KalmanFilter : IStreamFilter, IInspectableFilter
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

    /// <summary>The catalogue entry (state id 1).</summary>
    internal static readonly FilterRegistration Registration = new(
        1, Descriptor, parameters => new KalmanFilter(Parse(parameters)),
        (double[] values, long samples, ref StateReader reader) => Restore(FromValues(values), samples, ref reader));

    private readonly double _q;
    private readonly double _r;
    private double _x;
    private double _previous; // x one sample earlier (x0 at the start): the steady state's correction term uses it
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
        _previous = parameters.X0;
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
        double q = _q, r = _r, x = _x, previous = _previous, p = _p;
        var i = 0;

        // Transient: follow the p/k recursion sample by sample until p stops changing.
        for (; i < n; i++)
        {
            var pq = p + q;
            var k = pq / (pq + r);
            var next = (1 - k) * pq;
            if (next == p)
            {
                (x, previous) = Steady(ref Unsafe.Add(ref z, i), ref Unsafe.Add(ref y, i), n - i, x, previous, k);
                break;
            }

            previous = x;
            x = Math.FusedMultiplyAdd(k, Unsafe.Add(ref z, i) - x, x);
            Unsafe.Add(ref y, i) = x;
            p = next;
        }

        _x = x;
        _previous = previous;
        _p = p;
        SamplesProcessed += n;
    }

    /// <summary>
    /// The steady state, k constant: x(n) = (1 - k) x(n-1) + k z(n), with only one FMA on the dependency chain.
    /// 1 - k is not a double in general: with a = fl(1 - k) and its exact rounding error d = (1 - k) - a,
    /// x(n) = fma(a, x(n-1), fma(d, x(n-2), k z(n))). Using x(n-2) instead of x(n-1) in the tiny correction term
    /// (|d| &lt;= 2^-54) moves the result by about d k |z - x|, far below one ulp, and takes it off the chain.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double X, double Previous) Steady(ref double z, ref double y, int count, double x, double previous, double k)
    {
        var a = 1 - k;
        var d = (1 - a) - k; // exact: Sterbenz / Fast2Sum of 1 and -k
        var i = 0;
        for (; i + 4 <= count; i += 4)
        {
            var x1 = Math.FusedMultiplyAdd(a, x, Math.FusedMultiplyAdd(d, previous, k * Unsafe.Add(ref z, i)));
            var x2 = Math.FusedMultiplyAdd(a, x1, Math.FusedMultiplyAdd(d, x, k * Unsafe.Add(ref z, i + 1)));
            var x3 = Math.FusedMultiplyAdd(a, x2, Math.FusedMultiplyAdd(d, x1, k * Unsafe.Add(ref z, i + 2)));
            var x4 = Math.FusedMultiplyAdd(a, x3, Math.FusedMultiplyAdd(d, x2, k * Unsafe.Add(ref z, i + 3)));
            Unsafe.Add(ref y, i) = x1;
            Unsafe.Add(ref y, i + 1) = x2;
            Unsafe.Add(ref y, i + 2) = x3;
            Unsafe.Add(ref y, i + 3) = x4;
            previous = x3;
            x = x4;
        }

        for (; i < count; i++)
        {
            var next = Math.FusedMultiplyAdd(a, x, Math.FusedMultiplyAdd(d, previous, k * Unsafe.Add(ref z, i)));
            Unsafe.Add(ref y, i) = next;
            previous = x;
            x = next;
        }

        return (x, previous);
    }

    /// <summary>Estimate x, error variance p, and the gain k = (p + q) / (p + q + r) the next sample gets.</summary>
    public FilterInspection Inspect()
    {
        var p = Parameters;
        var values = new Dictionary<string, double>
        {
            ["estimate"] = _x,
            ["errorVariance"] = _p,
            ["gain"] = (_p + _q) / (_p + _q + _r),
        };
        return new(Algorithm, SamplesProcessed, FilterInspector.Named(Descriptor, p.Q, p.R, p.X0, p.P0), values, new Dictionary<string, double[]>());
    }

    public bool StateIsFinite => double.IsFinite(_x) && double.IsFinite(_previous) && double.IsFinite(_p);

    public byte[] SaveState()
    {
        var p = Parameters;
        var writer = FilterState.Begin(new byte[FilterState.Size(4, 3)], Registration.Id, SamplesProcessed, [p.Q, p.R, p.X0, p.P0]);
        writer.Write(_x);
        writer.Write(_previous);
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
        FilterFactory.CheckLength(ref reader, 3, "kalman");
        var filter = new KalmanFilter(parameters) { SamplesProcessed = samples };
        filter._x = reader.Read("x");
        filter._previous = reader.Read("previous x");
        filter._p = reader.Read("p");
        if (filter._p < 0)
        {
            throw new InvalidFilterStateException($"Filter state holds a negative error variance p ({ParameterValidation.Format(filter._p)}).");
        }

        return filter;
    }
}
