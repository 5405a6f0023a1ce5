using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>
/// Vector building blocks of the adaptive filters. Each has one fixed order of operations, whatever the lengths and
/// wherever it is called, so results depend only on the data: that is what keeps chunked processing bit-identical.
/// Vector256.FusedMultiplyAdd is a single-rounding FMA (hardware or an exact software fallback).
/// </summary>
internal static class VectorKernels
{
    /// <summary>
    /// result[i] = sum_{k &lt; m} z[i + k] z[i + k + lag] for i &lt; count, each accumulated by FMAs in ascending k from 0.
    /// One Vector256 lane per i, so there is no horizontal sum, and lanes compute exactly what the scalar tail does.
    /// </summary>
    public static void Lagged(ref double z, int count, int m, int lag, ref double result)
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

        for (; i < count; i++)
        {
            double acc = 0;
            for (var k = 0; k < m; k++)
            {
                acc = Math.FusedMultiplyAdd(Unsafe.Add(ref z, i + k), Unsafe.Add(ref z, i + k + lag), acc);
            }

            Unsafe.Add(ref result, i) = acc;
        }
    }

    /// <summary>
    /// For i &lt; count: energy[i] = sum_{k &lt; m} z[i+2+k]^2, lag1[i] = sum_k z[i+1+k] z[i+2+k], lag2[i] = sum_k z[i+k] z[i+2+k],
    /// each accumulated by FMAs in ascending k from 0 (the same order as <see cref="Lagged"/>). One pass: each
    /// loaded vector of samples serves all three sums and the next two values of k.
    /// </summary>
    public static void Correlations(ref double z, int count, int m, ref double energy, ref double lag1, ref double lag2)
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
    public static double Dot(ref double a, ref double b, int m)
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
        var result = half.GetElement(0) + half.GetElement(1);
        for (var k = vectors << 2; k < m; k++)
        {
            result = Math.FusedMultiplyAdd(Unsafe.Add(ref a, k), Unsafe.Add(ref b, k), result);
        }

        return result;
    }

    /// <summary>w[k] = fma(c, u[k], w[k]) for k &lt; m: element-wise, so vector and scalar parts agree exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaled(ref double w, double c, ref double u, int m)
    {
        var cv = Vector256.Create(c);
        var k = 0;
        for (; k + 4 <= m; k += 4)
        {
            Vector256.FusedMultiplyAdd(cv, Vector256.LoadUnsafe(ref u, (nuint)k), Vector256.LoadUnsafe(ref w, (nuint)k))
                .StoreUnsafe(ref w, (nuint)k);
        }

        for (; k < m; k++)
        {
            Unsafe.Add(ref w, k) = Math.FusedMultiplyAdd(c, Unsafe.Add(ref u, k), Unsafe.Add(ref w, k));
        }
    }
}

/// <summary>A count of Vector256 registers known to the JIT at compile time (a generic argument), for unrolled kernels.</summary>
internal interface IVectorCount
{
    static abstract int Count { get; }
}

internal readonly struct VectorCount1 : IVectorCount
{
    public static int Count => 1;
}

internal readonly struct VectorCount2 : IVectorCount
{
    public static int Count => 2;
}

internal readonly struct VectorCount3 : IVectorCount
{
    public static int Count => 3;
}

internal readonly struct VectorCount4 : IVectorCount
{
    public static int Count => 4;
}
