using System.Runtime.CompilerServices;

namespace SignalPipeline.Filters;

/// <summary>The scalar forms of the kernels, also the tails of the vector forms (see <see cref="VectorKernels"/>).</summary>
internal static partial class VectorKernels
{
    /// <summary><see cref="Lagged"/> for outputs <paramref name="from"/> to <paramref name="count"/> - 1.</summary>
    public static void LaggedScalar(ref double z, int from, int count, int m, int lag, ref double result)
    {
        for (var i = from; i < count; i++)
        {
            double acc = 0;
            for (var k = 0; k < m; k++)
            {
                acc = Math.FusedMultiplyAdd(Unsafe.Add(ref z, i + k), Unsafe.Add(ref z, i + k + lag), acc);
            }

            Unsafe.Add(ref result, i) = acc;
        }
    }

    /// <summary>The last m mod 4 terms of <see cref="Dot"/>, by scalar FMAs on top of the reduced vector part.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double DotTail(ref double a, ref double b, int from, int m, double result)
    {
        for (var k = from; k < m; k++)
        {
            result = Math.FusedMultiplyAdd(Unsafe.Add(ref a, k), Unsafe.Add(ref b, k), result);
        }

        return result;
    }

    /// <summary><see cref="AddScaled"/> for k from <paramref name="from"/> to <paramref name="m"/> - 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaledScalar(ref double w, double c, ref double u, int from, int m)
    {
        for (var k = from; k < m; k++)
        {
            Unsafe.Add(ref w, k) = Math.FusedMultiplyAdd(c, Unsafe.Add(ref u, k), Unsafe.Add(ref w, k));
        }
    }

    /// <summary><see cref="Fir"/> for outputs <paramref name="from"/> to <paramref name="count"/> - 1.</summary>
    public static void FirScalar(ref double h, int taps, ref double z, int from, int count, ref double y)
    {
        for (var i = from; i < count; i++)
        {
            double acc = 0;
            for (var j = 0; j < taps; j++)
            {
                acc = Math.FusedMultiplyAdd(Unsafe.Add(ref h, j), Unsafe.Add(ref z, i + j), acc);
            }

            Unsafe.Add(ref y, i) = acc;
        }
    }
}
