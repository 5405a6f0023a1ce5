using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>The 256-bit forms of the kernels (see <see cref="VectorKernels"/> for the contract each keeps).</summary>
internal static partial class VectorKernels
{
    /// <summary><see cref="Lagged"/>, sixteen outputs (four vectors) at a time, then four, then scalar.</summary>
    public static void Lagged256(ref double z, int count, int m, int lag, ref double result)
    {
        var i = 0;
        for (; i + 16 <= count; i += 16)
        {
            ref var zi = ref Unsafe.Add(ref z, i);
            Vector256<double> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var k = 0; k < m; k++)
            {
                ref var zk = ref Unsafe.Add(ref zi, k);
                ref var zl = ref Unsafe.Add(ref zk, lag);
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref zk), Vector256.LoadUnsafe(ref zl), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref zk, 4), Vector256.LoadUnsafe(ref zl, 4), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref zk, 8), Vector256.LoadUnsafe(ref zl, 8), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref zk, 12), Vector256.LoadUnsafe(ref zl, 12), a3);
            }

            ref var r = ref Unsafe.Add(ref result, i);
            a0.StoreUnsafe(ref r);
            a1.StoreUnsafe(ref r, 4);
            a2.StoreUnsafe(ref r, 8);
            a3.StoreUnsafe(ref r, 12);
        }

        for (; i + 4 <= count; i += 4)
        {
            ref var zi = ref Unsafe.Add(ref z, i);
            Vector256<double> a0 = default;
            for (var k = 0; k < m; k++)
            {
                ref var zk = ref Unsafe.Add(ref zi, k);
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref zk), Vector256.LoadUnsafe(ref Unsafe.Add(ref zk, lag)), a0);
            }

            a0.StoreUnsafe(ref Unsafe.Add(ref result, i));
        }

        LaggedScalar(ref z, i, count, m, lag, ref result);
    }

    /// <summary>
    /// For i &lt; count: energy[i] = sum_{k &lt; m} z[i+2+k]^2, lag1[i] = sum_k z[i+1+k] z[i+2+k], lag2[i] = sum_k z[i+k] z[i+2+k],
    /// each accumulated by FMAs in ascending k from 0 (the same order as <see cref="Lagged"/>). One pass: each
    /// loaded vector of samples serves all three sums and the next two values of k.
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
            Lagged(ref Unsafe.Add(ref z, i + 2), rest, m, 0, ref Unsafe.Add(ref energy, i));
            Lagged(ref Unsafe.Add(ref z, i + 1), rest, m, 1, ref Unsafe.Add(ref lag1, i));
            Lagged(ref Unsafe.Add(ref z, i), rest, m, 2, ref Unsafe.Add(ref lag2, i));
        }
    }

    /// <summary>
    /// sum_k a[k] b[k]: the first 4 * (m / 4) terms in four vector accumulators (vector t into accumulator t mod 4),
    /// reduced as ((acc0 + acc1) + (acc2 + acc3)) then (lane0 + lane2) + (lane1 + lane3); the last m mod 4 terms by
    /// scalar FMAs on top.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Dot256(ref double a, ref double b, int m)
    {
        var vectors = m >> 2;
        Vector256<double> a0 = default, a1 = default, a2 = default, a3 = default;
        var t = 0;
        for (; t + 4 <= vectors; t += 4)
        {
            var o = (nuint)(4 * t);
            a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, o), Vector256.LoadUnsafe(ref b, o), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, o + 4), Vector256.LoadUnsafe(ref b, o + 4), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, o + 8), Vector256.LoadUnsafe(ref b, o + 8), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, o + 12), Vector256.LoadUnsafe(ref b, o + 12), a3);
        }

        if (t < vectors)
        {
            var o = (nuint)(4 * t);
            a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, o), Vector256.LoadUnsafe(ref b, o), a0);
            if (t + 1 < vectors)
            {
                a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, o + 4), Vector256.LoadUnsafe(ref b, o + 4), a1);
            }

            if (t + 2 < vectors)
            {
                a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, o + 8), Vector256.LoadUnsafe(ref b, o + 8), a2);
            }
        }

        var sum = (a0 + a1) + (a2 + a3);
        var half = sum.GetLower() + sum.GetUpper();
        return DotTail(ref a, ref b, vectors << 2, m, half.GetElement(0) + half.GetElement(1));
    }

    /// <summary>w[k] = fma(c, u[k], w[k]) for k &lt; m: element-wise, so vector and scalar parts agree exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaled256(ref double w, double c, ref double u, int m)
    {
        var cv = Vector256.Create(c);
        var k = 0;
        for (; k + 4 <= m; k += 4)
        {
            Vector256.FusedMultiplyAdd(cv, Vector256.LoadUnsafe(ref u, (nuint)k), Vector256.LoadUnsafe(ref w, (nuint)k))
                .StoreUnsafe(ref w, (nuint)k);
        }

        AddScaledScalar(ref w, c, ref u, k, m);
    }

    /// <summary><see cref="Fir"/> with four groups of four outputs at a time, so four accumulators' FMA chains overlap.</summary>
    public static void Fir256(ref double h, int taps, ref double zRef, int count, ref double yRef)
    {
        var i = 0;
        for (; i + 16 <= count; i += 16)
        {
            ref var z = ref Unsafe.Add(ref zRef, i);
            Vector256<double> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var j = 0; j < taps; j++)
            {
                var c = Vector256.Create(Unsafe.Add(ref h, j));
                ref var zj = ref Unsafe.Add(ref z, j);
                a0 = Vector256.FusedMultiplyAdd(c, Vector256.LoadUnsafe(ref zj), a0);
                a1 = Vector256.FusedMultiplyAdd(c, Vector256.LoadUnsafe(ref zj, 4), a1);
                a2 = Vector256.FusedMultiplyAdd(c, Vector256.LoadUnsafe(ref zj, 8), a2);
                a3 = Vector256.FusedMultiplyAdd(c, Vector256.LoadUnsafe(ref zj, 12), a3);
            }

            ref var y = ref Unsafe.Add(ref yRef, i);
            a0.StoreUnsafe(ref y);
            a1.StoreUnsafe(ref y, 4);
            a2.StoreUnsafe(ref y, 8);
            a3.StoreUnsafe(ref y, 12);
        }

        for (; i + 4 <= count; i += 4)
        {
            ref var z = ref Unsafe.Add(ref zRef, i);
            Vector256<double> a0 = default;
            for (var j = 0; j < taps; j++)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(Unsafe.Add(ref h, j)), Vector256.LoadUnsafe(ref z, (nuint)j), a0);
            }

            a0.StoreUnsafe(ref Unsafe.Add(ref yRef, i));
        }

        FirScalar(ref h, taps, ref zRef, i, count, ref yRef);
    }
}

