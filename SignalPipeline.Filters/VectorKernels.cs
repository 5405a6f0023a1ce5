using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>The vector width a kernel runs at.</summary>
internal enum VectorWidth
{
    Scalar = 64,
    Vector128 = 128,
    Vector256 = 256,
}

/// <summary>
/// Vector building blocks of the adaptive filters. Each has one fixed order of operations, whatever the lengths and
/// wherever it is called, so results depend only on the data: that is what keeps chunked processing bit-identical.
/// Each kernel is written once over quads of four lanes (<see cref="IQuadWidth{TQuad}"/>), so its 256-bit, 128-bit and
/// scalar copies compute the same bits (the element-wise kernels trivially; <see cref="Dot"/> by its four quad
/// accumulators and reduction order), and runs at <see cref="Best"/>, the widest width the hardware accelerates, as
/// .NET's TensorPrimitives choose. Without that check a Vector256 operation on hardware without 256-bit vectors (arm64,
/// or DOTNET_EnableAVX2=0) runs in software: exact, slow.
/// </summary>
internal static partial class VectorKernels
{
    /// <summary>
    /// The widest width with hardware vectors and hardware FMA (a vector FMA without it is a software loop). Read once:
    /// the JIT folds the dispatch to the chosen form.
    /// </summary>
    public static readonly VectorWidth Best = Choose(
        Vector256.IsHardwareAccelerated, Vector128.IsHardwareAccelerated,
        System.Runtime.Intrinsics.X86.Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported);

    /// <summary>The width chosen for the given hardware (a pure decision, tested for every combination).</summary>
    public static VectorWidth Choose(bool vector256, bool vector128, bool fma)
        => !fma ? VectorWidth.Scalar
            : vector256 ? VectorWidth.Vector256
            : vector128 ? VectorWidth.Vector128
            : VectorWidth.Scalar;

    /// <summary>
    /// result[i] = sum_{k &lt; m} z[i + k] z[i + k + lag] for i &lt; count, each accumulated by FMAs in ascending k from 0.
    /// One vector lane per i, so there is no horizontal sum, and lanes compute exactly what the scalar tail does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Lagged(ref double z, int count, int m, int lag, ref double result)
    {
        switch (Best)
        {
            case VectorWidth.Vector256: Lagged<QuadWidth256, Vector256<double>>(ref z, count, m, lag, ref result); break;
            case VectorWidth.Vector128: Lagged<QuadWidth128, Vector128Pair>(ref z, count, m, lag, ref result); break;
            default: Lagged<QuadWidthScalar, ScalarQuad>(ref z, count, m, lag, ref result); break;
        }
    }

    /// <summary>
    /// For i &lt; count: energy[i] = sum_{k &lt; m} z[i+2+k]^2, lag1[i] = sum_k z[i+1+k] z[i+2+k], lag2[i] = sum_k z[i+k] z[i+2+k],
    /// each accumulated by FMAs in ascending k from 0 (the same order as <see cref="Lagged"/>).
    /// </summary>
    public static void Correlations(ref double z, int count, int m, ref double energy, ref double lag1, ref double lag2)
    {
        switch (Best)
        {
            case VectorWidth.Vector256: Correlations<QuadWidth256, Vector256<double>>(ref z, count, m, ref energy, ref lag1, ref lag2); break;
            case VectorWidth.Vector128: Correlations<QuadWidth128, Vector128Pair>(ref z, count, m, ref energy, ref lag1, ref lag2); break;
            default: Correlations<QuadWidthScalar, ScalarQuad>(ref z, count, m, ref energy, ref lag1, ref lag2); break;
        }
    }

    /// <summary>
    /// sum_k a[k] b[k]: the first 4 * (m / 4) terms in four accumulators of four lanes (group t of four terms into
    /// accumulator t mod 4), reduced as ((acc0 + acc1) + (acc2 + acc3)) then (lane0 + lane2) + (lane1 + lane3); the last
    /// m mod 4 terms by scalar FMAs on top. Every width keeps this order, so the result does not depend on the hardware.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Dot(ref double a, ref double b, int m) => Best switch
    {
        VectorWidth.Vector256 => Dot<QuadWidth256, Vector256<double>>(ref a, ref b, m),
        VectorWidth.Vector128 => Dot<QuadWidth128, Vector128Pair>(ref a, ref b, m),
        _ => Dot<QuadWidthScalar, ScalarQuad>(ref a, ref b, m),
    };

    /// <summary>w[k] = fma(c, u[k], w[k]) for k &lt; m: element-wise, so vector and scalar parts agree exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaled(ref double w, double c, ref double u, int m)
    {
        switch (Best)
        {
            case VectorWidth.Vector256: AddScaled<QuadWidth256, Vector256<double>>(ref w, c, ref u, m); break;
            case VectorWidth.Vector128: AddScaled<QuadWidth128, Vector128Pair>(ref w, c, ref u, m); break;
            default: AddScaled<QuadWidthScalar, ScalarQuad>(ref w, c, ref u, m); break;
        }
    }

    /// <summary>
    /// A fixed FIR: y[i] = sum_{j &lt; taps} h[j] z[i + j] for i &lt; count, accumulated by FMAs in ascending j from 0, one
    /// lane per output, so every output has the bits of the scalar loop whichever lane or width computes it.
    /// </summary>
    public static void Fir(ref double h, int taps, ref double z, int count, ref double y)
    {
        switch (Best)
        {
            case VectorWidth.Vector256: Fir<QuadWidth256, Vector256<double>>(ref h, taps, ref z, count, ref y); break;
            case VectorWidth.Vector128: Fir<QuadWidth128, Vector128Pair>(ref h, taps, ref z, count, ref y); break;
            default: Fir<QuadWidthScalar, ScalarQuad>(ref h, taps, ref z, count, ref y); break;
        }
    }
}
