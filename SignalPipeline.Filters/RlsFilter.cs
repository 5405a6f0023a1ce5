using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>
/// Recursive-least-squares one-step linear predictor of order M with forgetting factor lambda.
/// Start: w = 0, P = I / delta, u = [z(n-1) .. z(n-M)] (zeros before the first sample). Per sample:
/// y = w.u; e = z - y; pi = P u; g = pi / (lambda + u.pi); w += g e; P = (P - g pi^T) / lambda, exactly symmetric.
/// </summary>
public sealed class RlsFilter : IStreamFilter, IBlockKernel, IInspectableFilter
{
    internal static readonly AlgorithmDescriptor Descriptor = new(
        "rls",
        "Recursive least squares one-step linear predictor with forgetting factor; P kept exactly symmetric.",
        [
            new("order", "Number of taps M.", 8, 1, 64, MinExclusive: false, MaxExclusive: false, IsInteger: true),
            new("lambda", "Forgetting factor.", 0.99, 0, 1, MinExclusive: true, MaxExclusive: false, IsInteger: false),
            new("delta", "Initial inverse correlation: P starts as I / delta.", 0.01, 0, double.MaxValue, MinExclusive: true, MaxExclusive: false, IsInteger: false),
        ]);

    /// <summary>The catalogue entry (state id 2).</summary>
    internal static readonly FilterRegistration Registration = new(
        2, Descriptor, parameters => new RlsFilter(Parse(parameters)),
        (double[] values, long samples, ref StateReader reader) => Restore(FromValues(values), samples, ref reader));

    /// <summary>
    /// The bound on P's diagonal: while a step would take the largest diagonal element above it, that step does not
    /// divide by lambda (forgetting pauses). Without it a silent or unexciting input grows P by 1/lambda a sample
    /// until it overflows (order 64, lambda 0.99, about 70,000 zeros) and every later output is NaN. Real signals
    /// keep P near (1 - lambda)/variance, far below it, so their bits do not change.
    /// </summary>
    internal const double MaxCovariance = 1e50;

    private readonly TapHistory _taps;
    private readonly int _m;
    private readonly double _lambda;

    // Vectors and P are padded to a stride S = M rounded up to a multiple of 4, with zeros in front: index t in
    // [S - M, S) holds tap k = t - (S - M) in time order (k = M - 1 is z(n-1)). So _w[t] = w_(S-t), and row/column t of
    // _p is P's row/column S - t. The zero padding stays zero (its pi entries are 0), so the vector loops need no tails.
    private readonly int _stride;
    private readonly double[] _w;
    private readonly double[] _p;
    private readonly double[] _pi;
    private readonly double[] _u;

    /// <summary>Creates a filter at its initial state (w = 0, P = I / delta, u = 0).</summary>
    public RlsFilter(RlsParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Validate(parameters);
        Parameters = parameters;
        _m = parameters.Order;
        _lambda = parameters.Lambda;
        _stride = (_m + 3) & ~3;
        _w = new double[_stride];
        _p = new double[_stride * _stride];
        _pi = new double[_stride];
        _u = new double[_stride];
        for (var t = _stride - _m; t < _stride; t++)
        {
            _p[t * _stride + t] = 1 / parameters.Delta;
        }

        _taps = new TapHistory(_m);
    }

    public RlsParameters Parameters { get; }

    public string Algorithm => "rls";

    public long SamplesProcessed { get; private set; }

    public void Process(ReadOnlySpan<double> input, Span<double> output)
    {
        _taps.Process(this, input, output, SamplesProcessed);
        SamplesProcessed += input.Length;
    }

    /// <summary>
    /// Per sample: y = w.u; e = z - y; pi = P u (P is symmetric, so as a sum of P's rows scaled by u's entries, with
    /// no horizontal sums); g e = pi (e / (lambda + u.pi)); P = (P - (pi pi^T) / (lambda + u.pi)) / lambda.
    /// Each element of P's update is fma(-(pi_a pi_b), 1 / (lambda + u.pi), P_ab) * (1 / lambda); pi_a pi_b rounds
    /// exactly like pi_b pi_a, so P stays exactly symmetric without mirroring.
    /// </summary>
    void IBlockKernel.ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex)
    {
        int m = _m, stride = _stride, pad = _stride - _m;
        var invLambda = 1 / _lambda;
        ref var z = ref MemoryMarshal.GetArrayDataReference(buffer);
        ref var w = ref MemoryMarshal.GetArrayDataReference(_w);
        ref var p = ref MemoryMarshal.GetArrayDataReference(_p);
        ref var pi = ref MemoryMarshal.GetArrayDataReference(_pi);
        ref var padded = ref MemoryMarshal.GetArrayDataReference(_u);
        ref var y = ref MemoryMarshal.GetReference(output);
        if (m == 8)
        {
            // Always, whatever the vector width: the general loop sums P u in another order, so a state saved on one
            // machine would continue with other bits on a machine without AVX2. Without acceleration the Vector256
            // operations run as exact software lanes (same bits, slower).
            Order8(ref z, ref w, ref p, ref y, count, _lambda, invLambda);
            return;
        }

        for (var i = 0; i < count; i++)
        {
            ref var u = ref Unsafe.Add(ref z, i);
            if (pad != 0)
            {
                MemoryMarshal.CreateReadOnlySpan(ref u, m).CopyTo(_u.AsSpan(pad));
                u = ref padded;
            }

            var yn = VectorKernels.Dot(ref w, ref u, stride);
            var e = Unsafe.Add(ref z, i + m) - yn;
            MultiplySymmetric(ref p, ref u, stride, pad, ref pi);
            var inv = 1 / (_lambda + VectorKernels.Dot(ref u, ref pi, stride));
            VectorKernels.AddScaled(ref w, e * inv, ref pi, stride);
            var scale = MaxDiagonal(ref p, stride, pad) * invLambda > MaxCovariance ? 1 : invLambda;
            UpdateP(ref p, ref pi, stride, pad, Vector256.Create(inv), scale);
            Unsafe.Add(ref y, i) = yn;
        }
    }

    /// <summary>
    /// Order 8 (the default): the same operations as the general loop, unrolled for two Vector256 per row, with w
    /// and the rows of P held in registers for the whole block (AVX-512 machines have 32 of them).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Order8(ref double z, ref double wRef, ref double pRef, ref double y, int count, double lambda, double invLambda)
    {
        var w0 = Vector256.LoadUnsafe(ref wRef);
        var w1 = Vector256.LoadUnsafe(ref wRef, 4);
        var p0a = Vector256.LoadUnsafe(ref pRef, 0);
        var p0b = Vector256.LoadUnsafe(ref pRef, 4);
        var p1a = Vector256.LoadUnsafe(ref pRef, 8);
        var p1b = Vector256.LoadUnsafe(ref pRef, 12);
        var p2a = Vector256.LoadUnsafe(ref pRef, 16);
        var p2b = Vector256.LoadUnsafe(ref pRef, 20);
        var p3a = Vector256.LoadUnsafe(ref pRef, 24);
        var p3b = Vector256.LoadUnsafe(ref pRef, 28);
        var p4a = Vector256.LoadUnsafe(ref pRef, 32);
        var p4b = Vector256.LoadUnsafe(ref pRef, 36);
        var p5a = Vector256.LoadUnsafe(ref pRef, 40);
        var p5b = Vector256.LoadUnsafe(ref pRef, 44);
        var p6a = Vector256.LoadUnsafe(ref pRef, 48);
        var p6b = Vector256.LoadUnsafe(ref pRef, 52);
        var p7a = Vector256.LoadUnsafe(ref pRef, 56);
        var p7b = Vector256.LoadUnsafe(ref pRef, 60);
        for (var i = 0; i < count; i++)
        {
            ref var u = ref Unsafe.Add(ref z, i);
            var u0 = Vector256.LoadUnsafe(ref u);
            var u1 = Vector256.LoadUnsafe(ref u, 4);
            var dot = Vector256.FusedMultiplyAdd(w1, u1, w0 * u0);
            var dotHalf = dot.GetLower() + dot.GetUpper();
            var yn = dotHalf.GetElement(0) + dotHalf.GetElement(1);
            var e = Unsafe.Add(ref u, 8) - yn;
            var b0 = Vector256.Create(Unsafe.Add(ref u, 0));
            var b1 = Vector256.Create(Unsafe.Add(ref u, 1));
            var b2 = Vector256.Create(Unsafe.Add(ref u, 2));
            var b3 = Vector256.Create(Unsafe.Add(ref u, 3));
            var b4 = Vector256.Create(Unsafe.Add(ref u, 4));
            var b5 = Vector256.Create(Unsafe.Add(ref u, 5));
            var b6 = Vector256.Create(Unsafe.Add(ref u, 6));
            var b7 = Vector256.Create(Unsafe.Add(ref u, 7));
            var s0a = Vector256.FusedMultiplyAdd(p4a, b4, p0a * b0);
            var s0b = Vector256.FusedMultiplyAdd(p4b, b4, p0b * b0);
            var s1a = Vector256.FusedMultiplyAdd(p5a, b5, p1a * b1);
            var s1b = Vector256.FusedMultiplyAdd(p5b, b5, p1b * b1);
            var s2a = Vector256.FusedMultiplyAdd(p6a, b6, p2a * b2);
            var s2b = Vector256.FusedMultiplyAdd(p6b, b6, p2b * b2);
            var s3a = Vector256.FusedMultiplyAdd(p7a, b7, p3a * b3);
            var s3b = Vector256.FusedMultiplyAdd(p7b, b7, p3b * b3);
            var pi0 = (s0a + s1a) + (s2a + s3a);
            var pi1 = (s0b + s1b) + (s2b + s3b);
            var upi = Vector256.FusedMultiplyAdd(u1, pi1, u0 * pi0);
            var upiHalf = upi.GetLower() + upi.GetUpper();
            var inv = 1 / (lambda + (upiHalf.GetElement(0) + upiHalf.GetElement(1)));
            var ge = Vector256.Create(e * inv);
            w0 = Vector256.FusedMultiplyAdd(pi0, ge, w0);
            w1 = Vector256.FusedMultiplyAdd(pi1, ge, w1);
            var minusInv = Vector256.Create(-inv);
            var diagonal = Math.Max(
                Math.Max(Math.Max(p0a.GetElement(0), p1a.GetElement(1)), Math.Max(p2a.GetElement(2), p3a.GetElement(3))),
                Math.Max(Math.Max(p4b.GetElement(0), p5b.GetElement(1)), Math.Max(p6b.GetElement(2), p7b.GetElement(3))));
            var scale = Vector256.Create(diagonal * invLambda > MaxCovariance ? 1 : invLambda);
            var q0 = Vector256.Create(pi0.GetElement(0));
            p0a = Vector256.FusedMultiplyAdd(q0 * pi0, minusInv, p0a) * scale;
            p0b = Vector256.FusedMultiplyAdd(q0 * pi1, minusInv, p0b) * scale;
            var q1 = Vector256.Create(pi0.GetElement(1));
            p1a = Vector256.FusedMultiplyAdd(q1 * pi0, minusInv, p1a) * scale;
            p1b = Vector256.FusedMultiplyAdd(q1 * pi1, minusInv, p1b) * scale;
            var q2 = Vector256.Create(pi0.GetElement(2));
            p2a = Vector256.FusedMultiplyAdd(q2 * pi0, minusInv, p2a) * scale;
            p2b = Vector256.FusedMultiplyAdd(q2 * pi1, minusInv, p2b) * scale;
            var q3 = Vector256.Create(pi0.GetElement(3));
            p3a = Vector256.FusedMultiplyAdd(q3 * pi0, minusInv, p3a) * scale;
            p3b = Vector256.FusedMultiplyAdd(q3 * pi1, minusInv, p3b) * scale;
            var q4 = Vector256.Create(pi1.GetElement(0));
            p4a = Vector256.FusedMultiplyAdd(q4 * pi0, minusInv, p4a) * scale;
            p4b = Vector256.FusedMultiplyAdd(q4 * pi1, minusInv, p4b) * scale;
            var q5 = Vector256.Create(pi1.GetElement(1));
            p5a = Vector256.FusedMultiplyAdd(q5 * pi0, minusInv, p5a) * scale;
            p5b = Vector256.FusedMultiplyAdd(q5 * pi1, minusInv, p5b) * scale;
            var q6 = Vector256.Create(pi1.GetElement(2));
            p6a = Vector256.FusedMultiplyAdd(q6 * pi0, minusInv, p6a) * scale;
            p6b = Vector256.FusedMultiplyAdd(q6 * pi1, minusInv, p6b) * scale;
            var q7 = Vector256.Create(pi1.GetElement(3));
            p7a = Vector256.FusedMultiplyAdd(q7 * pi0, minusInv, p7a) * scale;
            p7b = Vector256.FusedMultiplyAdd(q7 * pi1, minusInv, p7b) * scale;
            Unsafe.Add(ref y, i) = yn;
        }

        w0.StoreUnsafe(ref wRef);
        w1.StoreUnsafe(ref wRef, 4);
        p0a.StoreUnsafe(ref pRef, 0);
        p0b.StoreUnsafe(ref pRef, 4);
        p1a.StoreUnsafe(ref pRef, 8);
        p1b.StoreUnsafe(ref pRef, 12);
        p2a.StoreUnsafe(ref pRef, 16);
        p2b.StoreUnsafe(ref pRef, 20);
        p3a.StoreUnsafe(ref pRef, 24);
        p3b.StoreUnsafe(ref pRef, 28);
        p4a.StoreUnsafe(ref pRef, 32);
        p4b.StoreUnsafe(ref pRef, 36);
        p5a.StoreUnsafe(ref pRef, 40);
        p5b.StoreUnsafe(ref pRef, 44);
        p6a.StoreUnsafe(ref pRef, 48);
        p6b.StoreUnsafe(ref pRef, 52);
        p7a.StoreUnsafe(ref pRef, 56);
        p7b.StoreUnsafe(ref pRef, 60);
    }

    /// <summary>pi = P u for symmetric P, 16 columns at a time; even and odd rows in separate accumulators.</summary>
    private static void MultiplySymmetric(ref double p, ref double u, int stride, int pad, ref double pi)
    {
        for (var column = 0; column < stride; column += 16)
        {
            var vectors = Math.Min(4, (stride - column) >> 2);
            Vector256<double> e0 = default, e1 = default, e2 = default, e3 = default;
            Vector256<double> o0 = default, o1 = default, o2 = default, o3 = default;
            var row = pad;
            for (; row + 2 <= stride; row += 2)
            {
                ref var even = ref Unsafe.Add(ref p, row * stride + column);
                ref var odd = ref Unsafe.Add(ref even, stride);
                var ue = Vector256.Create(Unsafe.Add(ref u, row));
                var uo = Vector256.Create(Unsafe.Add(ref u, row + 1));
                e0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref even), ue, e0);
                o0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref odd), uo, o0);
                if (vectors > 1)
                {
                    e1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref even, 4), ue, e1);
                    o1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref odd, 4), uo, o1);
                    if (vectors > 2)
                    {
                        e2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref even, 8), ue, e2);
                        o2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref odd, 8), uo, o2);
                        if (vectors > 3)
                        {
                            e3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref even, 12), ue, e3);
                            o3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref odd, 12), uo, o3);
                        }
                    }
                }
            }

            if (row < stride)
            {
                // One row left (pad odd): it goes to the even accumulators.
                ref var even = ref Unsafe.Add(ref p, row * stride + column);
                var ue = Vector256.Create(Unsafe.Add(ref u, row));
                e0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref even), ue, e0);
                e1 = vectors > 1 ? Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref even, 4), ue, e1) : e1;
                e2 = vectors > 2 ? Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref even, 8), ue, e2) : e2;
                e3 = vectors > 3 ? Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref even, 12), ue, e3) : e3;
            }

            ref var target = ref Unsafe.Add(ref pi, column);
            (e0 + o0).StoreUnsafe(ref target);
            if (vectors > 1)
            {
                (e1 + o1).StoreUnsafe(ref target, 4);
            }

            if (vectors > 2)
            {
                (e2 + o2).StoreUnsafe(ref target, 8);
            }

            if (vectors > 3)
            {
                (e3 + o3).StoreUnsafe(ref target, 12);
            }
        }
    }

    private static double MaxDiagonal(ref double p, int stride, int pad)
    {
        var max = 0.0;
        for (var row = pad; row < stride; row++)
        {
            max = Math.Max(max, Unsafe.Add(ref p, row * stride + row));
        }

        return max;
    }

    /// <summary>P = (P - pi pi^T inv) * scale, where scale is 1 / lambda, or 1 while P is at its bound.</summary>
    private static void UpdateP(ref double p, ref double pi, int stride, int pad, Vector256<double> inv, double scaleBy)
    {
        var scale = Vector256.Create(scaleBy);
        for (var row = pad; row < stride; row++)
        {
            var pa = Vector256.Create(Unsafe.Add(ref pi, row));
            ref var r = ref Unsafe.Add(ref p, row * stride);
            for (var t = 0; t < stride; t += 4)
            {
                var outer = pa * Vector256.LoadUnsafe(ref pi, (nuint)t);
                var v = Vector256.FusedMultiplyAdd(-outer, inv, Vector256.LoadUnsafe(ref r, (nuint)t)) * scale;
                v.StoreUnsafe(ref r, (nuint)t);
            }
        }
    }

    /// <summary>The weight vector, newest tap first (weights[0] multiplies z(n-1)).</summary>
    public FilterInspection Inspect()
    {
        var p = Parameters;
        var weights = new double[_m];
        for (var j = 1; j <= _m; j++)
        {
            weights[j - 1] = _w[_stride - j];
        }

        return new(Algorithm, SamplesProcessed, FilterInspector.Named(Descriptor, p.Order, p.Lambda, p.Delta), new Dictionary<string, double>(),
            new Dictionary<string, double[]> { ["weights"] = weights });
    }

    public byte[] SaveState()
    {
        var p = Parameters;
        var m = _m;
        var writer = FilterState.Begin(new byte[FilterState.Size(3, m + m * m + m)], Registration.Id, SamplesProcessed, [p.Order, p.Lambda, p.Delta]);
        for (var j = 1; j <= m; j++)
        {
            writer.Write(_w[_stride - j]);
        }

        for (var r = 1; r <= m; r++)
        {
            for (var c = 1; c <= m; c++)
            {
                writer.Write(_p[(_stride - r) * _stride + (_stride - c)]);
            }
        }

        _taps.WriteNewestFirst(ref writer);
        return writer.Finish();
    }

    internal static RlsParameters Parse(IReadOnlyDictionary<string, double>? parameters)
        => FromValues(ParameterValidation.Resolve(Descriptor, parameters));

    internal static RlsParameters FromValues(double[] v)
    {
        ParameterValidation.Check(Descriptor.Parameters[0], v[0]);
        var p = new RlsParameters((int)v[0], v[1], v[2]);
        Validate(p);
        return p;
    }

    private static void Validate(RlsParameters p)
    {
        var d = Descriptor.Parameters;
        ParameterValidation.Check(d[0], p.Order);
        ParameterValidation.Check(d[1], p.Lambda);
        ParameterValidation.Check(d[2], p.Delta);
    }

    internal static RlsFilter Restore(RlsParameters parameters, long samples, ref StateReader reader)
    {
        var m = parameters.Order;
        FilterFactory.CheckLength(ref reader, m + m * m + m, "rls");
        var filter = new RlsFilter(parameters) { SamplesProcessed = samples };
        var s = filter._stride;
        for (var j = 1; j <= m; j++)
        {
            filter._w[s - j] = reader.Read("weights w");
        }

        for (var r = 1; r <= m; r++)
        {
            for (var c = 1; c <= m; c++)
            {
                filter._p[(s - r) * s + (s - c)] = reader.Read("matrix P");
            }
        }

        for (var a = 0; a < s; a++)
        {
            for (var b = a + 1; b < s; b++)
            {
                if (filter._p[a * s + b] != filter._p[b * s + a])
                {
                    throw new InvalidFilterStateException("Filter state holds a matrix P that is not symmetric.");
                }
            }
        }

        filter._taps.ReadNewestFirst(ref reader, samples);
        return filter;
    }
}
