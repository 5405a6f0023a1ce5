using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>
/// The kernels written once over quads (<see cref="IQuadWidth{TQuad}"/>): the JIT compiles one copy per width (Vector256,
/// two Vector128, four doubles), each in the same order of operations, so each gives the same bits at every width.
/// </summary>
internal static partial class VectorKernels
{
    /// <summary><see cref="Lagged"/>, sixteen outputs (four quads) at a time, then four, then scalar.</summary>
    public static void Lagged<TWidth, TQuad>(ref double z, int count, int m, int lag, ref double result)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        var i = 0;
        for (; i + 16 <= count; i += 16)
        {
            ref var zi = ref Unsafe.Add(ref z, i);
            TQuad a0 = default, a1 = default, a2 = default, a3 = default;
            for (var k = 0; k < m; k++)
            {
                ref var zk = ref Unsafe.Add(ref zi, k);
                ref var zl = ref Unsafe.Add(ref zk, lag);
                a0 = TWidth.MultiplyAdd(TWidth.Load(ref zk, 0), TWidth.Load(ref zl, 0), a0);
                a1 = TWidth.MultiplyAdd(TWidth.Load(ref zk, 4), TWidth.Load(ref zl, 4), a1);
                a2 = TWidth.MultiplyAdd(TWidth.Load(ref zk, 8), TWidth.Load(ref zl, 8), a2);
                a3 = TWidth.MultiplyAdd(TWidth.Load(ref zk, 12), TWidth.Load(ref zl, 12), a3);
            }

            ref var r = ref Unsafe.Add(ref result, i);
            TWidth.Store(a0, ref r, 0);
            TWidth.Store(a1, ref r, 4);
            TWidth.Store(a2, ref r, 8);
            TWidth.Store(a3, ref r, 12);
        }

        for (; i + 4 <= count; i += 4)
        {
            ref var zi = ref Unsafe.Add(ref z, i);
            TQuad a0 = default;
            for (var k = 0; k < m; k++)
            {
                ref var zk = ref Unsafe.Add(ref zi, k);
                a0 = TWidth.MultiplyAdd(TWidth.Load(ref zk, 0), TWidth.Load(ref Unsafe.Add(ref zk, lag), 0), a0);
            }

            TWidth.Store(a0, ref Unsafe.Add(ref result, i), 0);
        }

        LaggedScalar(ref z, i, count, m, lag, ref result);
    }

    /// <summary>
    /// <see cref="Correlations"/>: the 256-bit width in one pass (<see cref="Correlations256"/>: twenty live quads, too
    /// many registers at the narrower widths), the others one <see cref="Lagged{TWidth, TQuad}"/> pass per sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Correlations<TWidth, TQuad>(ref double z, int count, int m, ref double energy, ref double lag1, ref double lag2)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        if (typeof(TQuad) == typeof(Vector256<double>))
        {
            Correlations256(ref z, count, m, ref energy, ref lag1, ref lag2);
            return;
        }

        // Element-wise, so the same bits as the single pass.
        Lagged<TWidth, TQuad>(ref Unsafe.Add(ref z, 2), count, m, 0, ref energy);
        Lagged<TWidth, TQuad>(ref Unsafe.Add(ref z, 1), count, m, 1, ref lag1);
        Lagged<TWidth, TQuad>(ref z, count, m, 2, ref lag2);
    }

    /// <summary><see cref="Dot"/>: four quad accumulators (quad t into accumulator t mod 4), reduced as documented there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Dot<TWidth, TQuad>(ref double a, ref double b, int m)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        var quads = m >> 2;
        TQuad a0 = default, a1 = default, a2 = default, a3 = default;
        var t = 0;
        for (; t + 4 <= quads; t += 4)
        {
            var o = (nuint)(4 * t);
            a0 = TWidth.MultiplyAdd(TWidth.Load(ref a, o), TWidth.Load(ref b, o), a0);
            a1 = TWidth.MultiplyAdd(TWidth.Load(ref a, o + 4), TWidth.Load(ref b, o + 4), a1);
            a2 = TWidth.MultiplyAdd(TWidth.Load(ref a, o + 8), TWidth.Load(ref b, o + 8), a2);
            a3 = TWidth.MultiplyAdd(TWidth.Load(ref a, o + 12), TWidth.Load(ref b, o + 12), a3);
        }

        if (t < quads)
        {
            var o = (nuint)(4 * t);
            a0 = TWidth.MultiplyAdd(TWidth.Load(ref a, o), TWidth.Load(ref b, o), a0);
            if (t + 1 < quads)
            {
                a1 = TWidth.MultiplyAdd(TWidth.Load(ref a, o + 4), TWidth.Load(ref b, o + 4), a1);
            }

            if (t + 2 < quads)
            {
                a2 = TWidth.MultiplyAdd(TWidth.Load(ref a, o + 8), TWidth.Load(ref b, o + 8), a2);
            }
        }

        var sum = TWidth.Sum(TWidth.Add(TWidth.Add(a0, a1), TWidth.Add(a2, a3)));
        return DotTail(ref a, ref b, quads << 2, m, sum);
    }

    /// <summary><see cref="AddScaled"/>, a quad at a time, then scalar.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaled<TWidth, TQuad>(ref double w, double c, ref double u, int m)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        var cv = TWidth.Broadcast(c);
        var k = 0;
        for (; k + 4 <= m; k += 4)
        {
            TWidth.Store(TWidth.MultiplyAdd(cv, TWidth.Load(ref u, (nuint)k), TWidth.Load(ref w, (nuint)k)), ref w, (nuint)k);
        }

        AddScaledScalar(ref w, c, ref u, k, m);
    }

    /// <summary><see cref="Fir"/>, four quads of outputs at a time (four accumulators' FMA chains overlap), then one, then scalar.</summary>
    public static void Fir<TWidth, TQuad>(ref double h, int taps, ref double zRef, int count, ref double yRef)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        var i = 0;
        for (; i + 16 <= count; i += 16)
        {
            ref var z = ref Unsafe.Add(ref zRef, i);
            TQuad a0 = default, a1 = default, a2 = default, a3 = default;
            for (var j = 0; j < taps; j++)
            {
                var c = TWidth.Broadcast(Unsafe.Add(ref h, j));
                ref var zj = ref Unsafe.Add(ref z, j);
                a0 = TWidth.MultiplyAdd(c, TWidth.Load(ref zj, 0), a0);
                a1 = TWidth.MultiplyAdd(c, TWidth.Load(ref zj, 4), a1);
                a2 = TWidth.MultiplyAdd(c, TWidth.Load(ref zj, 8), a2);
                a3 = TWidth.MultiplyAdd(c, TWidth.Load(ref zj, 12), a3);
            }

            ref var y = ref Unsafe.Add(ref yRef, i);
            TWidth.Store(a0, ref y, 0);
            TWidth.Store(a1, ref y, 4);
            TWidth.Store(a2, ref y, 8);
            TWidth.Store(a3, ref y, 12);
        }

        for (; i + 4 <= count; i += 4)
        {
            ref var z = ref Unsafe.Add(ref zRef, i);
            TQuad a0 = default;
            for (var j = 0; j < taps; j++)
            {
                a0 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref h, j)), TWidth.Load(ref z, (nuint)j), a0);
            }

            TWidth.Store(a0, ref Unsafe.Add(ref yRef, i), 0);
        }

        FirScalar(ref h, taps, ref zRef, i, count, ref yRef);
    }

    /// <summary>
    /// For i &lt; count: energy[i] = sum_{k &lt; m} z[i+2+k]^2, lag1[i] = sum_k z[i+1+k] z[i+2+k], lag2[i] = sum_k z[i+k] z[i+2+k],
    /// each accumulated by FMAs in ascending k from 0 (the same order as <see cref="Lagged"/>). One pass: each
    /// loaded vector of samples serves all three sums and the next two values of k. Written for Vector256 alone: at the
    /// narrower widths its twenty live quads would not fit the registers.
    /// </summary>
    public static void Correlations256(ref double z, int count, int m, ref double energy, ref double lag1, ref double lag2)
    {
        var i = 0;
        for (; i + 16 <= count; i += 16)
        {
            ref var zi = ref Unsafe.Add(ref z, i);
            Vector256<double> e0 = default, e1 = default, e2 = default, e3 = default, l0 = default, l1 = default, l2 = default, l3 = default, q0 = default, q1 = default, q2 = default, q3 = default;
            var a0 = Vector256.LoadUnsafe(ref zi, 0);
            var b0 = Vector256.LoadUnsafe(ref zi, 1);
            var a1 = Vector256.LoadUnsafe(ref zi, 4);
            var b1 = Vector256.LoadUnsafe(ref zi, 5);
            var a2 = Vector256.LoadUnsafe(ref zi, 8);
            var b2 = Vector256.LoadUnsafe(ref zi, 9);
            var a3 = Vector256.LoadUnsafe(ref zi, 12);
            var b3 = Vector256.LoadUnsafe(ref zi, 13);
            for (var k = 0; k < m; k++)
            {
                ref var zk = ref Unsafe.Add(ref zi, k + 2);
                var c0 = Vector256.LoadUnsafe(ref zk, 0);
                var c1 = Vector256.LoadUnsafe(ref zk, 4);
                var c2 = Vector256.LoadUnsafe(ref zk, 8);
                var c3 = Vector256.LoadUnsafe(ref zk, 12);
                e0 = Vector256.FusedMultiplyAdd(c0, c0, e0);
                l0 = Vector256.FusedMultiplyAdd(b0, c0, l0);
                q0 = Vector256.FusedMultiplyAdd(a0, c0, q0);
                e1 = Vector256.FusedMultiplyAdd(c1, c1, e1);
                l1 = Vector256.FusedMultiplyAdd(b1, c1, l1);
                q1 = Vector256.FusedMultiplyAdd(a1, c1, q1);
                e2 = Vector256.FusedMultiplyAdd(c2, c2, e2);
                l2 = Vector256.FusedMultiplyAdd(b2, c2, l2);
                q2 = Vector256.FusedMultiplyAdd(a2, c2, q2);
                e3 = Vector256.FusedMultiplyAdd(c3, c3, e3);
                l3 = Vector256.FusedMultiplyAdd(b3, c3, l3);
                q3 = Vector256.FusedMultiplyAdd(a3, c3, q3);
                a0 = b0;
                b0 = c0;
                a1 = b1;
                b1 = c1;
                a2 = b2;
                b2 = c2;
                a3 = b3;
                b3 = c3;
            }

            e0.StoreUnsafe(ref Unsafe.Add(ref energy, i), 0);
            l0.StoreUnsafe(ref Unsafe.Add(ref lag1, i), 0);
            q0.StoreUnsafe(ref Unsafe.Add(ref lag2, i), 0);
            e1.StoreUnsafe(ref Unsafe.Add(ref energy, i), 4);
            l1.StoreUnsafe(ref Unsafe.Add(ref lag1, i), 4);
            q1.StoreUnsafe(ref Unsafe.Add(ref lag2, i), 4);
            e2.StoreUnsafe(ref Unsafe.Add(ref energy, i), 8);
            l2.StoreUnsafe(ref Unsafe.Add(ref lag1, i), 8);
            q2.StoreUnsafe(ref Unsafe.Add(ref lag2, i), 8);
            e3.StoreUnsafe(ref Unsafe.Add(ref energy, i), 12);
            l3.StoreUnsafe(ref Unsafe.Add(ref lag1, i), 12);
            q3.StoreUnsafe(ref Unsafe.Add(ref lag2, i), 12);
        }

        var rest = count - i;
        if (rest > 0)
        {
            Lagged<QuadWidth256, Vector256<double>>(ref Unsafe.Add(ref z, i + 2), rest, m, 0, ref Unsafe.Add(ref energy, i));
            Lagged<QuadWidth256, Vector256<double>>(ref Unsafe.Add(ref z, i + 1), rest, m, 1, ref Unsafe.Add(ref lag1, i));
            Lagged<QuadWidth256, Vector256<double>>(ref Unsafe.Add(ref z, i), rest, m, 2, ref Unsafe.Add(ref lag2, i));
        }
    }
}
