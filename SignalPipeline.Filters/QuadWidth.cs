using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>
/// The operations of a quad (four double lanes, the unit in which the register kernels of rls and lms define their
/// order of operations) at one vector width: <see cref="QuadWidth256"/> (one Vector256), <see cref="QuadWidth128"/>
/// (two Vector128, arm64's width) and <see cref="QuadWidthScalar"/> (four doubles). Every operation is lane-wise with
/// one rounding per lane (FMA fused), and <see cref="Sum"/> adds (lane0 + lane2) + (lane1 + lane3) at every width, so a
/// kernel written once over a quad gives the same bits at every width. Kernels take the implementing struct as a type
/// argument: the JIT compiles one copy per width with the operations inlined, so the 256-bit copy is the code written
/// against Vector256 directly. (.NET 10 keeps its own <c>ISimdVector</c> internal, hence this small interface.)
/// </summary>
/// <typeparam name="TQuad">The register type holding one quad at this width.</typeparam>
internal interface IQuadWidth<TQuad>
    where TQuad : struct
{
    static abstract TQuad Load(ref double source, nuint offset);

    static abstract void Store(TQuad value, ref double target, nuint offset);

    static abstract TQuad Broadcast(double value);

    static abstract TQuad Add(TQuad a, TQuad b);

    static abstract TQuad Multiply(TQuad a, TQuad b);

    static abstract TQuad Divide(TQuad a, TQuad b);

    static abstract TQuad Negate(TQuad a);

    /// <summary>fma(a, b, c) in every lane.</summary>
    static abstract TQuad MultiplyAdd(TQuad a, TQuad b, TQuad c);

    static abstract double Element(TQuad value, int lane);

    /// <summary>(lane0 + lane2) + (lane1 + lane3), as the 256-bit form's lower plus upper half, then its two lanes.</summary>
    static abstract double Sum(TQuad value);

}

/// <summary>A quad in one 256-bit register (x86 with AVX2).</summary>
internal readonly struct QuadWidth256 : IQuadWidth<Vector256<double>>
{
    public static Vector256<double> Load(ref double source, nuint offset) => Vector256.LoadUnsafe(ref source, offset);

    public static void Store(Vector256<double> value, ref double target, nuint offset) => value.StoreUnsafe(ref target, offset);

    public static Vector256<double> Broadcast(double value) => Vector256.Create(value);

    public static Vector256<double> Add(Vector256<double> a, Vector256<double> b) => a + b;

    public static Vector256<double> Multiply(Vector256<double> a, Vector256<double> b) => a * b;

    public static Vector256<double> Divide(Vector256<double> a, Vector256<double> b) => a / b;

    public static Vector256<double> Negate(Vector256<double> a) => -a;

    public static Vector256<double> MultiplyAdd(Vector256<double> a, Vector256<double> b, Vector256<double> c)
        => Vector256.FusedMultiplyAdd(a, b, c);

    public static double Element(Vector256<double> value, int lane) => value.GetElement(lane);

    public static double Sum(Vector256<double> value)
    {
        var half = value.GetLower() + value.GetUpper();
        return half.GetElement(0) + half.GetElement(1);
    }
}

/// <summary>A quad as two 128-bit registers, lanes 0-1 and 2-3 (arm64's AdvSimd).</summary>
internal struct Vector128Pair
{
    public Vector128<double> Lower;
    public Vector128<double> Upper;
}

/// <summary>A quad in two 128-bit registers.</summary>
internal readonly struct QuadWidth128 : IQuadWidth<Vector128Pair>
{
    public static Vector128Pair Load(ref double source, nuint offset)
        => new() { Lower = Vector128.LoadUnsafe(ref source, offset), Upper = Vector128.LoadUnsafe(ref source, offset + 2) };

    public static void Store(Vector128Pair value, ref double target, nuint offset)
    {
        value.Lower.StoreUnsafe(ref target, offset);
        value.Upper.StoreUnsafe(ref target, offset + 2);
    }

    public static Vector128Pair Broadcast(double value) => new() { Lower = Vector128.Create(value), Upper = Vector128.Create(value) };

    public static Vector128Pair Add(Vector128Pair a, Vector128Pair b) => new() { Lower = a.Lower + b.Lower, Upper = a.Upper + b.Upper };

    public static Vector128Pair Multiply(Vector128Pair a, Vector128Pair b) => new() { Lower = a.Lower * b.Lower, Upper = a.Upper * b.Upper };

    public static Vector128Pair Divide(Vector128Pair a, Vector128Pair b) => new() { Lower = a.Lower / b.Lower, Upper = a.Upper / b.Upper };

    public static Vector128Pair Negate(Vector128Pair a) => new() { Lower = -a.Lower, Upper = -a.Upper };

    public static Vector128Pair MultiplyAdd(Vector128Pair a, Vector128Pair b, Vector128Pair c) => new()
    {
        Lower = Vector128.FusedMultiplyAdd(a.Lower, b.Lower, c.Lower),
        Upper = Vector128.FusedMultiplyAdd(a.Upper, b.Upper, c.Upper),
    };

    public static double Element(Vector128Pair value, int lane) => lane < 2 ? value.Lower.GetElement(lane) : value.Upper.GetElement(lane - 2);

    public static double Sum(Vector128Pair value)
    {
        var half = value.Lower + value.Upper;
        return half.GetElement(0) + half.GetElement(1);
    }
}

/// <summary>A quad as four doubles (no hardware vectors, or no hardware FMA).</summary>
internal struct ScalarQuad
{
    public double A;
    public double B;
    public double C;
    public double D;
}

/// <summary>A quad in four scalar registers.</summary>
internal readonly struct QuadWidthScalar : IQuadWidth<ScalarQuad>
{
    public static ScalarQuad Load(ref double source, nuint offset)
    {
        ref var s = ref Unsafe.Add(ref source, offset);
        return new() { A = s, B = Unsafe.Add(ref s, 1), C = Unsafe.Add(ref s, 2), D = Unsafe.Add(ref s, 3) };
    }

    public static void Store(ScalarQuad value, ref double target, nuint offset)
    {
        ref var t = ref Unsafe.Add(ref target, offset);
        t = value.A;
        Unsafe.Add(ref t, 1) = value.B;
        Unsafe.Add(ref t, 2) = value.C;
        Unsafe.Add(ref t, 3) = value.D;
    }

    public static ScalarQuad Broadcast(double value) => new() { A = value, B = value, C = value, D = value };

    public static ScalarQuad Add(ScalarQuad a, ScalarQuad b) => new() { A = a.A + b.A, B = a.B + b.B, C = a.C + b.C, D = a.D + b.D };

    public static ScalarQuad Multiply(ScalarQuad a, ScalarQuad b) => new() { A = a.A * b.A, B = a.B * b.B, C = a.C * b.C, D = a.D * b.D };

    public static ScalarQuad Divide(ScalarQuad a, ScalarQuad b) => new() { A = a.A / b.A, B = a.B / b.B, C = a.C / b.C, D = a.D / b.D };

    public static ScalarQuad Negate(ScalarQuad a) => new() { A = -a.A, B = -a.B, C = -a.C, D = -a.D };

    public static ScalarQuad MultiplyAdd(ScalarQuad a, ScalarQuad b, ScalarQuad c) => new()
    {
        A = Math.FusedMultiplyAdd(a.A, b.A, c.A),
        B = Math.FusedMultiplyAdd(a.B, b.B, c.B),
        C = Math.FusedMultiplyAdd(a.C, b.C, c.C),
        D = Math.FusedMultiplyAdd(a.D, b.D, c.D),
    };

    public static double Element(ScalarQuad value, int lane) => lane switch { 0 => value.A, 1 => value.B, 2 => value.C, _ => value.D };

    public static double Sum(ScalarQuad value) => (value.A + value.C) + (value.B + value.D);
}

/// <summary>A block kernel written once over quads, run at a chosen width by <see cref="QuadBlock.Run"/>.</summary>
internal interface IQuadBlockKernel
{
    void ProcessBlock<TWidth, TQuad>(double[] buffer, int count, Span<double> output)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct;
}

/// <summary>Runs a block at a kernel's width (one switch per block, so the per-sample loops see one width).</summary>
internal static class QuadBlock
{
    public static void Run<TKernel>(TKernel kernel, VectorWidth width, double[] buffer, int count, Span<double> output)
        where TKernel : IQuadBlockKernel
    {
        switch (width)
        {
            case VectorWidth.Vector256: kernel.ProcessBlock<QuadWidth256, Vector256<double>>(buffer, count, output); break;
            case VectorWidth.Vector128: kernel.ProcessBlock<QuadWidth128, Vector128Pair>(buffer, count, output); break;
            default: kernel.ProcessBlock<QuadWidthScalar, ScalarQuad>(buffer, count, output); break;
        }
    }
}
