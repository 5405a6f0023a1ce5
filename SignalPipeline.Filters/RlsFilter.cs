using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>
/// Recursive-least-squares one-step linear predictor of order M with forgetting factor lambda.
/// Start: w = 0, P = I / delta, u = [z(n-1) .. z(n-M)] (zeros before the first sample). Per sample:
/// y = w.u; e = z - y; pi = P u; g = pi / (lambda + u.pi); w += g e; P = (P - g pi^T) / lambda, exactly symmetric.
/// When the arithmetic breaks down the filter restarts instead of going non-finite (covariance resetting): P = I / delta
/// keeping w when the step would turn w non-finite, w = 0 too when w.u is not finite (docs/filters.md, rls).
/// </summary>
public sealed class RlsFilter : IStreamFilter, IBlockKernel, IQuadBlockKernel, IInspectableFilter
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

    /// <summary>
    /// What a sample restarts before its step is taken again (covariance resetting, docs/filters.md, rls). Each happens
    /// only where the step would otherwise make every later output non-finite, so finite outputs keep their bits.
    /// </summary>
    private enum Restart
    {
        None,

        /// <summary>
        /// P = I / delta, keeping w: lambda + u.pi is NaN, or pi = P u is not finite (P has overflowed), so the step would
        /// turn w into NaN; w is still the finite estimate learned so far.
        /// </summary>
        Covariance,

        /// <summary>w = 0 and P = I / delta: w.u is not finite, so there is no estimate left to keep; the sample predicts 0.</summary>
        Filter,
    }

    private readonly TapHistory _taps;
    private readonly int _m;
    private readonly double _lambda;
    private readonly double _initial;

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
        _initial = 1 / parameters.Delta;
        _stride = (_m + 3) & ~3;
        _w = new double[_stride];
        _p = new double[_stride * _stride];
        _pi = new double[_stride];
        _u = new double[_stride];
        InitialCovariance(ref MemoryMarshal.GetArrayDataReference(_p), _stride, _stride - _m, _initial);
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
    /// The vector width the kernels run at: <see cref="VectorKernels.Best"/>; tests set the others to check that every
    /// width gives the same bits (a state saved on one machine continues bit-identically on another).
    /// </summary>
    internal VectorWidth Width { get; set; } = VectorKernels.Best;

    void IBlockKernel.ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex)
        => QuadBlock.Run(this, Width, buffer, count, output);

    /// <summary>
    /// Per sample: y = w.u; e = z - y; pi = P u (P is symmetric, so as a sum of P's rows scaled by u's entries, with
    /// no horizontal sums); g e = pi (e / (lambda + u.pi)); P = (P - (pi pi^T) / (lambda + u.pi)) / lambda.
    /// Each element of P's update is fma(-(pi_a pi_b), 1 / (lambda + u.pi), P_ab) * (1 / lambda); pi_a pi_b rounds
    /// exactly like pi_b pi_a, so P stays exactly symmetric without mirroring. Written once over quads (see
    /// <see cref="IQuadWidth{TQuad}"/>), so every width runs the same operations in the same order. Two compares a sample
    /// watch for the breakdown (<see cref="Restart"/>): y not finite, and lambda + u.pi not finite; the rest of the
    /// restart's decision and the restart itself run only then.
    /// </summary>
    void IQuadBlockKernel.ProcessBlock<TWidth, TQuad>(double[] buffer, int count, Span<double> output)
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
            // The general loop sums P u in another order, so order 8 takes this kernel at every width: a state saved on
            // one machine continues with the same bits on a machine of another width.
            Order8<TWidth, TQuad>(ref z, ref w, ref p, ref y, count, _lambda, invLambda, _initial);
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

            var yn = VectorKernels.Dot<TWidth, TQuad>(ref w, ref u, stride);
            var restarted = !double.IsFinite(yn);
            if (restarted)
            {
                RestartState(Restart.Filter, ref w, ref p, stride, pad, _initial);
                yn = VectorKernels.Dot<TWidth, TQuad>(ref w, ref u, stride);
            }

            var e = Unsafe.Add(ref z, i + m) - yn;
            MultiplySymmetric<TWidth, TQuad>(ref p, ref u, stride, pad, ref pi);
            var denominator = _lambda + VectorKernels.Dot<TWidth, TQuad>(ref u, ref pi, stride);
            if (!double.IsFinite(denominator) && !restarted && StepLosesWeights(denominator, MemoryMarshal.CreateReadOnlySpan(ref pi, stride)))
            {
                RestartState(Restart.Covariance, ref w, ref p, stride, pad, _initial);
                MultiplySymmetric<TWidth, TQuad>(ref p, ref u, stride, pad, ref pi);
                denominator = _lambda + VectorKernels.Dot<TWidth, TQuad>(ref u, ref pi, stride);
            }

            var inv = 1 / denominator;
            VectorKernels.AddScaled<TWidth, TQuad>(ref w, e * inv, ref pi, stride);
            var scale = MaxDiagonal(ref p, stride, pad) * invLambda > MaxCovariance ? 1 : invLambda;
            UpdateP<TWidth, TQuad>(ref p, ref pi, stride, pad, TWidth.Broadcast(inv), scale);
            Unsafe.Add(ref y, i) = yn;
        }
    }

    /// <summary>
    /// Order 8 (the default): the same operations as the general loop, unrolled for two quads per row, with w and the
    /// rows of P held in registers for the whole block (AVX-512 machines have 32 of them). A restart leaves the loop,
    /// stores the registers, restarts the state in memory and takes the sample again from the reloaded registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Order8<TWidth, TQuad>(ref double z, ref double wRef, ref double pRef, ref double y, int count, double lambda, double invLambda, double initial)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        var i = 0;
        var restartedAt = -1;
        while (true)
        {
            var restart = Order8Run<TWidth, TQuad>(ref z, ref wRef, ref pRef, ref y, ref i, count, restartedAt, lambda, invLambda);
            if (restart == Restart.None)
            {
                return;
            }

            RestartState(restart, ref wRef, ref pRef, 8, 0, initial);
            restartedAt = i;
        }
    }

    /// <summary>
    /// Runs <see cref="Order8"/>'s samples from <paramref name="next"/> until the block ends (None) or sample i needs a
    /// restart (at most one per sample: none again at <paramref name="restartedAt"/>); stores w and P and the next
    /// sample's index either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Restart Order8Run<TWidth, TQuad>(ref double z, ref double wRef, ref double pRef, ref double y, ref int next, int count, int restartedAt, double lambda, double invLambda)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        var restart = Restart.None;
        var i = next;
        var w0 = TWidth.Load(ref wRef, 0);
        var w1 = TWidth.Load(ref wRef, 4);
        var p0a = TWidth.Load(ref pRef, 0);
        var p0b = TWidth.Load(ref pRef, 4);
        var p1a = TWidth.Load(ref pRef, 8);
        var p1b = TWidth.Load(ref pRef, 12);
        var p2a = TWidth.Load(ref pRef, 16);
        var p2b = TWidth.Load(ref pRef, 20);
        var p3a = TWidth.Load(ref pRef, 24);
        var p3b = TWidth.Load(ref pRef, 28);
        var p4a = TWidth.Load(ref pRef, 32);
        var p4b = TWidth.Load(ref pRef, 36);
        var p5a = TWidth.Load(ref pRef, 40);
        var p5b = TWidth.Load(ref pRef, 44);
        var p6a = TWidth.Load(ref pRef, 48);
        var p6b = TWidth.Load(ref pRef, 52);
        var p7a = TWidth.Load(ref pRef, 56);
        var p7b = TWidth.Load(ref pRef, 60);
        for (; i < count; i++)
        {
            ref var u = ref Unsafe.Add(ref z, i);
            var u0 = TWidth.Load(ref u, 0);
            var u1 = TWidth.Load(ref u, 4);
            var yn = TWidth.Sum(TWidth.MultiplyAdd(w1, u1, TWidth.Multiply(w0, u0)));

            // Not again at the sample just restarted: with w = 0, y is not finite only for an input that is not (NaN, an
            // infinity), which the formulas propagate, as the general loop does. Until 2026-12-05 this restarted the same
            // sample forever: a NaN in the signal hung the caller (the services and the processor refuse one first).
            if (!double.IsFinite(yn) && i != restartedAt)
            {
                restart = Restart.Filter;
                break;
            }

            var e = Unsafe.Add(ref u, 8) - yn;
            var b0 = TWidth.Broadcast(Unsafe.Add(ref u, 0));
            var b1 = TWidth.Broadcast(Unsafe.Add(ref u, 1));
            var b2 = TWidth.Broadcast(Unsafe.Add(ref u, 2));
            var b3 = TWidth.Broadcast(Unsafe.Add(ref u, 3));
            var b4 = TWidth.Broadcast(Unsafe.Add(ref u, 4));
            var b5 = TWidth.Broadcast(Unsafe.Add(ref u, 5));
            var b6 = TWidth.Broadcast(Unsafe.Add(ref u, 6));
            var b7 = TWidth.Broadcast(Unsafe.Add(ref u, 7));
            var s0a = TWidth.MultiplyAdd(p4a, b4, TWidth.Multiply(p0a, b0));
            var s0b = TWidth.MultiplyAdd(p4b, b4, TWidth.Multiply(p0b, b0));
            var s1a = TWidth.MultiplyAdd(p5a, b5, TWidth.Multiply(p1a, b1));
            var s1b = TWidth.MultiplyAdd(p5b, b5, TWidth.Multiply(p1b, b1));
            var s2a = TWidth.MultiplyAdd(p6a, b6, TWidth.Multiply(p2a, b2));
            var s2b = TWidth.MultiplyAdd(p6b, b6, TWidth.Multiply(p2b, b2));
            var s3a = TWidth.MultiplyAdd(p7a, b7, TWidth.Multiply(p3a, b3));
            var s3b = TWidth.MultiplyAdd(p7b, b7, TWidth.Multiply(p3b, b3));
            var pi0 = TWidth.Add(TWidth.Add(s0a, s1a), TWidth.Add(s2a, s3a));
            var pi1 = TWidth.Add(TWidth.Add(s0b, s1b), TWidth.Add(s2b, s3b));
            var denominator = lambda + TWidth.Sum(TWidth.MultiplyAdd(u1, pi1, TWidth.Multiply(u0, pi0)));
            if (!double.IsFinite(denominator) && i != restartedAt && StepLosesWeights<TWidth, TQuad>(denominator, pi0, pi1))
            {
                restart = Restart.Covariance;
                break;
            }

            var inv = 1 / denominator;
            var ge = TWidth.Broadcast(e * inv);
            w0 = TWidth.MultiplyAdd(pi0, ge, w0);
            w1 = TWidth.MultiplyAdd(pi1, ge, w1);
            var minusInv = TWidth.Broadcast(-inv);
            var diagonal = Math.Max(
                Math.Max(Math.Max(TWidth.Element(p0a, 0), TWidth.Element(p1a, 1)), Math.Max(TWidth.Element(p2a, 2), TWidth.Element(p3a, 3))),
                Math.Max(Math.Max(TWidth.Element(p4b, 0), TWidth.Element(p5b, 1)), Math.Max(TWidth.Element(p6b, 2), TWidth.Element(p7b, 3))));
            var scale = TWidth.Broadcast(diagonal * invLambda > MaxCovariance ? 1 : invLambda);
            var q0 = TWidth.Broadcast(TWidth.Element(pi0, 0));
            p0a = Downdate<TWidth, TQuad>(q0, pi0, minusInv, p0a, scale);
            p0b = Downdate<TWidth, TQuad>(q0, pi1, minusInv, p0b, scale);
            var q1 = TWidth.Broadcast(TWidth.Element(pi0, 1));
            p1a = Downdate<TWidth, TQuad>(q1, pi0, minusInv, p1a, scale);
            p1b = Downdate<TWidth, TQuad>(q1, pi1, minusInv, p1b, scale);
            var q2 = TWidth.Broadcast(TWidth.Element(pi0, 2));
            p2a = Downdate<TWidth, TQuad>(q2, pi0, minusInv, p2a, scale);
            p2b = Downdate<TWidth, TQuad>(q2, pi1, minusInv, p2b, scale);
            var q3 = TWidth.Broadcast(TWidth.Element(pi0, 3));
            p3a = Downdate<TWidth, TQuad>(q3, pi0, minusInv, p3a, scale);
            p3b = Downdate<TWidth, TQuad>(q3, pi1, minusInv, p3b, scale);
            var q4 = TWidth.Broadcast(TWidth.Element(pi1, 0));
            p4a = Downdate<TWidth, TQuad>(q4, pi0, minusInv, p4a, scale);
            p4b = Downdate<TWidth, TQuad>(q4, pi1, minusInv, p4b, scale);
            var q5 = TWidth.Broadcast(TWidth.Element(pi1, 1));
            p5a = Downdate<TWidth, TQuad>(q5, pi0, minusInv, p5a, scale);
            p5b = Downdate<TWidth, TQuad>(q5, pi1, minusInv, p5b, scale);
            var q6 = TWidth.Broadcast(TWidth.Element(pi1, 2));
            p6a = Downdate<TWidth, TQuad>(q6, pi0, minusInv, p6a, scale);
            p6b = Downdate<TWidth, TQuad>(q6, pi1, minusInv, p6b, scale);
            var q7 = TWidth.Broadcast(TWidth.Element(pi1, 3));
            p7a = Downdate<TWidth, TQuad>(q7, pi0, minusInv, p7a, scale);
            p7b = Downdate<TWidth, TQuad>(q7, pi1, minusInv, p7b, scale);
            Unsafe.Add(ref y, i) = yn;
        }

        TWidth.Store(w0, ref wRef, 0);
        TWidth.Store(w1, ref wRef, 4);
        TWidth.Store(p0a, ref pRef, 0);
        TWidth.Store(p0b, ref pRef, 4);
        TWidth.Store(p1a, ref pRef, 8);
        TWidth.Store(p1b, ref pRef, 12);
        TWidth.Store(p2a, ref pRef, 16);
        TWidth.Store(p2b, ref pRef, 20);
        TWidth.Store(p3a, ref pRef, 24);
        TWidth.Store(p3b, ref pRef, 28);
        TWidth.Store(p4a, ref pRef, 32);
        TWidth.Store(p4b, ref pRef, 36);
        TWidth.Store(p5a, ref pRef, 40);
        TWidth.Store(p5b, ref pRef, 44);
        TWidth.Store(p6a, ref pRef, 48);
        TWidth.Store(p6b, ref pRef, 52);
        TWidth.Store(p7a, ref pRef, 56);
        TWidth.Store(p7b, ref pRef, 60);
        next = i;
        return restart;
    }

    /// <summary>
    /// Whether a step whose lambda + u.pi is not finite would turn w non-finite (w + pi (e / (lambda + u.pi))): when it is
    /// NaN, or when pi = P u is not finite (P has overflowed). Otherwise (u.pi overflowed from a finite pi, inputs near
    /// 1e150) the step leaves w as it is, as it always did, and the filter goes on unrestarted, with the same bits.
    /// </summary>
    private static bool StepLosesWeights(double denominator, ReadOnlySpan<double> pi)
    {
        if (double.IsNaN(denominator))
        {
            return true;
        }

        foreach (var value in pi)
        {
            if (!double.IsFinite(value))
            {
                return true;
            }
        }

        return false;
    }

    private static bool StepLosesWeights<TWidth, TQuad>(double denominator, TQuad pi0, TQuad pi1)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        Span<double> pi = stackalloc double[8];
        TWidth.Store(pi0, ref MemoryMarshal.GetReference(pi), 0);
        TWidth.Store(pi1, ref MemoryMarshal.GetReference(pi), 4);
        return StepLosesWeights(denominator, pi);
    }

    /// <summary>Restarts P at I / delta (its padding zero), and w at 0 for <see cref="Restart.Filter"/>.</summary>
    private static void RestartState(Restart restart, ref double w, ref double p, int stride, int pad, double initial)
    {
        if (restart == Restart.Filter)
        {
            MemoryMarshal.CreateSpan(ref w, stride).Clear();
        }

        MemoryMarshal.CreateSpan(ref p, stride * stride).Clear();
        InitialCovariance(ref p, stride, pad, initial);
    }

    /// <summary>P's diagonal = 1 / delta (the rest of P as it is: zero at the start and after a clear).</summary>
    private static void InitialCovariance(ref double p, int stride, int pad, double initial)
    {
        for (var t = pad; t < stride; t++)
        {
            Unsafe.Add(ref p, t * stride + t) = initial;
        }
    }

    /// <summary>One quad of P's update: fma(pi_a pi_b, -inv, P_ab) * scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TQuad Downdate<TWidth, TQuad>(TQuad piA, TQuad piB, TQuad minusInv, TQuad p, TQuad scale)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
        => TWidth.Multiply(TWidth.MultiplyAdd(TWidth.Multiply(piA, piB), minusInv, p), scale);

    /// <summary>pi = P u for symmetric P, 16 columns (four quads) at a time; even and odd rows in separate accumulators.</summary>
    private static void MultiplySymmetric<TWidth, TQuad>(ref double p, ref double u, int stride, int pad, ref double pi)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        for (var column = 0; column < stride; column += 16)
        {
            var quads = Math.Min(4, (stride - column) >> 2);
            TQuad e0 = default, e1 = default, e2 = default, e3 = default;
            TQuad o0 = default, o1 = default, o2 = default, o3 = default;
            var row = pad;
            for (; row + 2 <= stride; row += 2)
            {
                ref var even = ref Unsafe.Add(ref p, row * stride + column);
                ref var odd = ref Unsafe.Add(ref even, stride);
                var ue = TWidth.Broadcast(Unsafe.Add(ref u, row));
                var uo = TWidth.Broadcast(Unsafe.Add(ref u, row + 1));
                e0 = TWidth.MultiplyAdd(TWidth.Load(ref even, 0), ue, e0);
                o0 = TWidth.MultiplyAdd(TWidth.Load(ref odd, 0), uo, o0);
                if (quads > 1)
                {
                    e1 = TWidth.MultiplyAdd(TWidth.Load(ref even, 4), ue, e1);
                    o1 = TWidth.MultiplyAdd(TWidth.Load(ref odd, 4), uo, o1);
                    if (quads > 2)
                    {
                        e2 = TWidth.MultiplyAdd(TWidth.Load(ref even, 8), ue, e2);
                        o2 = TWidth.MultiplyAdd(TWidth.Load(ref odd, 8), uo, o2);
                        if (quads > 3)
                        {
                            e3 = TWidth.MultiplyAdd(TWidth.Load(ref even, 12), ue, e3);
                            o3 = TWidth.MultiplyAdd(TWidth.Load(ref odd, 12), uo, o3);
                        }
                    }
                }
            }

            if (row < stride)
            {
                // One row left (pad odd): it goes to the even accumulators.
                ref var even = ref Unsafe.Add(ref p, row * stride + column);
                var ue = TWidth.Broadcast(Unsafe.Add(ref u, row));
                e0 = TWidth.MultiplyAdd(TWidth.Load(ref even, 0), ue, e0);
                e1 = quads > 1 ? TWidth.MultiplyAdd(TWidth.Load(ref even, 4), ue, e1) : e1;
                e2 = quads > 2 ? TWidth.MultiplyAdd(TWidth.Load(ref even, 8), ue, e2) : e2;
                e3 = quads > 3 ? TWidth.MultiplyAdd(TWidth.Load(ref even, 12), ue, e3) : e3;
            }

            ref var target = ref Unsafe.Add(ref pi, column);
            TWidth.Store(TWidth.Add(e0, o0), ref target, 0);
            if (quads > 1)
            {
                TWidth.Store(TWidth.Add(e1, o1), ref target, 4);
            }

            if (quads > 2)
            {
                TWidth.Store(TWidth.Add(e2, o2), ref target, 8);
            }

            if (quads > 3)
            {
                TWidth.Store(TWidth.Add(e3, o3), ref target, 12);
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
    private static void UpdateP<TWidth, TQuad>(ref double p, ref double pi, int stride, int pad, TQuad inv, double scaleBy)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        var scale = TWidth.Broadcast(scaleBy);
        for (var row = pad; row < stride; row++)
        {
            var pa = TWidth.Broadcast(Unsafe.Add(ref pi, row));
            ref var r = ref Unsafe.Add(ref p, row * stride);
            for (var t = 0; t < stride; t += 4)
            {
                var outer = TWidth.Multiply(pa, TWidth.Load(ref pi, (nuint)t));
                var v = TWidth.Multiply(TWidth.MultiplyAdd(TWidth.Negate(outer), inv, TWidth.Load(ref r, (nuint)t)), scale);
                TWidth.Store(v, ref r, (nuint)t);
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

    /// <summary>
    /// The snapshot of what the next sample sees. A step on inputs of enormous magnitude (near 1e154 and up) can leave
    /// w or P non-finite; the filter restarts them at the next sample (w not finite makes w.u not finite: w = 0 and
    /// P = I / delta; P not finite makes pi = P u not finite: P = I / delta), and a restart from a state already
    /// restarted changes nothing. So the snapshot holds the restarted values: the restore, which refuses non-finite
    /// values, takes it, and the stream continues with the bits of one that was never saved (chunked equals whole).
    /// </summary>
    /// <summary>Only the taps can be non-finite in a snapshot: <see cref="SaveState"/> writes a non-finite w or P restarted.</summary>
    public bool StateIsFinite => _taps.IsFinite;

    public byte[] SaveState()
    {
        var p = Parameters;
        var m = _m;
        var w = _w;
        var covariance = _p;
        // The whole padded arrays: a padding entry made NaN by an overflowed step restarts the filter as a real one does.
        var pending = !FilterFactory.AllFinite(_w) ? Restart.Filter : !FilterFactory.AllFinite(_p) ? Restart.Covariance : Restart.None;
        if (pending != Restart.None)
        {
            w = (double[])_w.Clone();
            covariance = new double[_p.Length];
            RestartState(pending, ref MemoryMarshal.GetArrayDataReference(w), ref MemoryMarshal.GetArrayDataReference(covariance), _stride, _stride - m, _initial);
        }

        var writer = FilterState.Begin(new byte[FilterState.Size(3, m + m * m + m)], Registration.Id, SamplesProcessed, [p.Order, p.Lambda, p.Delta]);
        for (var j = 1; j <= m; j++)
        {
            writer.Write(w[_stride - j]);
        }

        for (var r = 1; r <= m; r++)
        {
            for (var c = 1; c <= m; c++)
            {
                writer.Write(covariance[(_stride - r) * _stride + (_stride - c)]);
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
