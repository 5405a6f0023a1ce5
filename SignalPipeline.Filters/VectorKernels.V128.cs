using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>The 128-bit forms of the kernels (arm64's AdvSimd, or x86 without AVX); see <see cref="VectorKernels"/>.</summary>
internal static partial class VectorKernels
{
    /// <summary><see cref="Lagged"/>, eight outputs (four vectors) at a time, then two, then scalar.</summary>
    public static void Lagged128(ref double z, int count, int m, int lag, ref double result)
    {
        var i = 0;
        for (; i + 8 <= count; i += 8)
        {
            ref var zi = ref Unsafe.Add(ref z, i);
            Vector128<double> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var k = 0; k < m; k++)
            {
                ref var zk = ref Unsafe.Add(ref zi, k);
                ref var zl = ref Unsafe.Add(ref zk, lag);
                a0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref zk), Vector128.LoadUnsafe(ref zl), a0);
                a1 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref zk, 2), Vector128.LoadUnsafe(ref zl, 2), a1);
                a2 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref zk, 4), Vector128.LoadUnsafe(ref zl, 4), a2);
                a3 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref zk, 6), Vector128.LoadUnsafe(ref zl, 6), a3);
            }

            ref var r = ref Unsafe.Add(ref result, i);
            a0.StoreUnsafe(ref r);
            a1.StoreUnsafe(ref r, 2);
            a2.StoreUnsafe(ref r, 4);
            a3.StoreUnsafe(ref r, 6);
        }

        for (; i + 2 <= count; i += 2)
        {
            ref var zi = ref Unsafe.Add(ref z, i);
            Vector128<double> a0 = default;
            for (var k = 0; k < m; k++)
            {
                ref var zk = ref Unsafe.Add(ref zi, k);
                a0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref zk), Vector128.LoadUnsafe(ref Unsafe.Add(ref zk, lag)), a0);
            }

            a0.StoreUnsafe(ref Unsafe.Add(ref result, i));
        }

        LaggedScalar(ref z, i, count, m, lag, ref result);
    }

    /// <summary>
    /// <see cref="Dot"/> with each of the 256-bit form's four accumulators held as a low and a high half, reduced in the
    /// same order, so the result has the same bits.
    /// </summary>
    public static double Dot128(ref double a, ref double b, int m)
    {
        var vectors = m >> 2;
        Vector128<double> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
        var t = 0;
        for (; t + 4 <= vectors; t += 4)
        {
            var o = (nuint)(4 * t);
            l0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o), Vector128.LoadUnsafe(ref b, o), l0);
            h0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o + 2), Vector128.LoadUnsafe(ref b, o + 2), h0);
            l1 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o + 4), Vector128.LoadUnsafe(ref b, o + 4), l1);
            h1 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o + 6), Vector128.LoadUnsafe(ref b, o + 6), h1);
            l2 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o + 8), Vector128.LoadUnsafe(ref b, o + 8), l2);
            h2 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o + 10), Vector128.LoadUnsafe(ref b, o + 10), h2);
            l3 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o + 12), Vector128.LoadUnsafe(ref b, o + 12), l3);
            h3 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o + 14), Vector128.LoadUnsafe(ref b, o + 14), h3);
        }

        // Up to three groups left: into accumulators 0, 1, 2 as in the 256-bit form.
        for (var g = 0; t < vectors; t++, g++)
        {
            var o = (nuint)(4 * t);
            var lo = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o), Vector128.LoadUnsafe(ref b, o), g == 0 ? l0 : g == 1 ? l1 : l2);
            var hi = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref a, o + 2), Vector128.LoadUnsafe(ref b, o + 2), g == 0 ? h0 : g == 1 ? h1 : h2);
            if (g == 0)
            {
                (l0, h0) = (lo, hi);
            }
            else if (g == 1)
            {
                (l1, h1) = (lo, hi);
            }
            else
            {
                (l2, h2) = (lo, hi);
            }
        }

        // sum = (acc0 + acc1) + (acc2 + acc3) per half; then the halves (lanes 0,1 + lanes 2,3); then the two lanes.
        var half = ((l0 + l1) + (l2 + l3)) + ((h0 + h1) + (h2 + h3));
        return DotTail(ref a, ref b, vectors << 2, m, half.GetElement(0) + half.GetElement(1));
    }

    /// <summary><see cref="AddScaled"/>, two elements at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaled128(ref double w, double c, ref double u, int m)
    {
        var cv = Vector128.Create(c);
        var k = 0;
        for (; k + 2 <= m; k += 2)
        {
            Vector128.FusedMultiplyAdd(cv, Vector128.LoadUnsafe(ref u, (nuint)k), Vector128.LoadUnsafe(ref w, (nuint)k))
                .StoreUnsafe(ref w, (nuint)k);
        }

        AddScaledScalar(ref w, c, ref u, k, m);
    }

    /// <summary><see cref="Fir"/>, four groups of two outputs at a time, then two, then scalar.</summary>
    public static void Fir128(ref double h, int taps, ref double zRef, int count, ref double yRef)
    {
        var i = 0;
        for (; i + 8 <= count; i += 8)
        {
            ref var z = ref Unsafe.Add(ref zRef, i);
            Vector128<double> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var j = 0; j < taps; j++)
            {
                var c = Vector128.Create(Unsafe.Add(ref h, j));
                ref var zj = ref Unsafe.Add(ref z, j);
                a0 = Vector128.FusedMultiplyAdd(c, Vector128.LoadUnsafe(ref zj), a0);
                a1 = Vector128.FusedMultiplyAdd(c, Vector128.LoadUnsafe(ref zj, 2), a1);
                a2 = Vector128.FusedMultiplyAdd(c, Vector128.LoadUnsafe(ref zj, 4), a2);
                a3 = Vector128.FusedMultiplyAdd(c, Vector128.LoadUnsafe(ref zj, 6), a3);
            }

            ref var y = ref Unsafe.Add(ref yRef, i);
            a0.StoreUnsafe(ref y);
            a1.StoreUnsafe(ref y, 2);
            a2.StoreUnsafe(ref y, 4);
            a3.StoreUnsafe(ref y, 6);
        }

        for (; i + 2 <= count; i += 2)
        {
            ref var z = ref Unsafe.Add(ref zRef, i);
            Vector128<double> a0 = default;
            for (var j = 0; j < taps; j++)
            {
                a0 = Vector128.FusedMultiplyAdd(Vector128.Create(Unsafe.Add(ref h, j)), Vector128.LoadUnsafe(ref z, (nuint)j), a0);
            }

            a0.StoreUnsafe(ref Unsafe.Add(ref yRef, i));
        }

        FirScalar(ref h, taps, ref zRef, i, count, ref yRef);
    }
}
