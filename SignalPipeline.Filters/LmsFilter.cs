using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>
/// Normalised LMS one-step predictor of order M. Tap vector u = [z(n-1) .. z(n-M)] (zeros before the first sample).
/// Per sample: y = w.u; e = z - y; w += (mu e / (eps + u.u)) u; then z shifts into u.
/// </summary>
public sealed class LmsFilter : IStreamFilter, IBlockKernel
{
    internal static readonly AlgorithmDescriptor Descriptor = new(
        "lms",
        "Normalised LMS one-step linear predictor: y = w.u; e = z - y; w += mu e u / (eps + u.u).",
        [
            new("order", "Number of taps M.", 16, 1, 256, MinExclusive: false, MaxExclusive: false, IsInteger: true),
            new("mu", "Step size.", 0.1, 0, 2, MinExclusive: true, MaxExclusive: true, IsInteger: false),
            new("eps", "Regularisation added to the tap energy u.u.", 1e-6, 0, double.MaxValue, MinExclusive: true, MaxExclusive: false, IsInteger: false),
        ]);

    private readonly TapHistory _taps;
    private readonly int _m;
    private readonly double _mu;
    private readonly double _eps;

    // The loop carries the update one sample late (see ProcessBlock): _w holds w(n-1) and _c the step c(n-1), so that
    // w(n) = w(n-1) + c(n-1) u(n-1). Weights are in time order: _w[k] multiplies z(n-M+k), i.e. _w[k] = w_(M-k).
    private readonly double[] _w;
    private double _c;

    [ThreadStatic]
    private static double[]? t_scratch;

    /// <summary>Creates a filter at its initial state (w = 0, u = 0).</summary>
    public LmsFilter(LmsParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Validate(parameters);
        Parameters = parameters;
        _m = parameters.Order;
        _mu = parameters.Mu;
        _eps = parameters.Eps;
        _w = new double[_m];
        _taps = new TapHistory(_m + 1); // u(n) and u(n-1)
    }

    public LmsParameters Parameters { get; }

    public string Algorithm => "lms";

    public long SamplesProcessed { get; private set; }

    public void Process(ReadOnlySpan<double> input, Span<double> output)
    {
        _taps.Process(this, input, output, SamplesProcessed);
        SamplesProcessed += input.Length;
    }

    /// <summary>
    /// y(n) = w(n).u(n) with w(n) = w(n-1) + c(n-1) u(n-1) is computed as w(n-1).u(n) + c(n-1) (u(n-1).u(n)):
    /// the weight update and the next dot product then run beside the short chain c(n-1) -> y(n) -> e -> c(n)
    /// (one FMA, a subtraction, a multiplication) instead of in front of it. The data-only terms u(n).u(n) and
    /// u(n-1).u(n) and the normalisation mu / (eps + u.u) are computed for the whole block first, one vector lane per
    /// sample. Buffer layout: u(n) = buffer[i + 1 .. i + 1 + M), u(n-1) = buffer[i .. i + M), z(n) = buffer[M + 1 + i].
    /// </summary>
    void IBlockKernel.ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex)
    {
        var m = _m;
        var scratch = t_scratch ??= new double[2 * TapHistory.BlockSize];
        ref var z = ref MemoryMarshal.GetArrayDataReference(buffer);
        ref var gain = ref MemoryMarshal.GetArrayDataReference(scratch);
        ref var cross = ref Unsafe.Add(ref gain, TapHistory.BlockSize);
        VectorKernels.Lagged(ref Unsafe.Add(ref z, 1), count, m, 0, ref gain);
        VectorKernels.Lagged(ref z, count, m, 1, ref cross);
        var i = 0;
        var mu = Vector256.Create(_mu);
        var eps = Vector256.Create(_eps);
        for (; i + 4 <= count; i += 4)
        {
            (mu / (eps + Vector256.LoadUnsafe(ref gain, (nuint)i))).StoreUnsafe(ref gain, (nuint)i);
        }

        for (; i < count; i++)
        {
            Unsafe.Add(ref gain, i) = _mu / (_eps + Unsafe.Add(ref gain, i));
        }

        ref var w = ref MemoryMarshal.GetArrayDataReference(_w);
        ref var y = ref MemoryMarshal.GetReference(output);
        _c = m switch
        {
            4 => InRegisters<VectorCount1>(ref z, ref w, ref cross, ref gain, ref y, count, _c),
            8 => InRegisters<VectorCount2>(ref z, ref w, ref cross, ref gain, ref y, count, _c),
            12 => InRegisters<VectorCount3>(ref z, ref w, ref cross, ref gain, ref y, count, _c),
            16 => InRegisters<VectorCount4>(ref z, ref w, ref cross, ref gain, ref y, count, _c),
            _ => InMemory(ref z, ref w, ref cross, ref gain, ref y, count, _c, m),
        };
    }

    /// <summary>Any order: weights in memory, <see cref="VectorKernels"/> dot product and update.</summary>
    private static double InMemory(ref double z, ref double w, ref double cross, ref double gain, ref double y, int count, double c, int m)
    {
        for (var i = 0; i < count; i++)
        {
            ref var previousTaps = ref Unsafe.Add(ref z, i);
            var s = VectorKernels.Dot(ref w, ref Unsafe.Add(ref previousTaps, 1), m);
            var yn = Math.FusedMultiplyAdd(c, Unsafe.Add(ref cross, i), s);
            var e = Unsafe.Add(ref previousTaps, m + 1) - yn;
            VectorKernels.AddScaled(ref w, c, ref previousTaps, m);
            c = e * Unsafe.Add(ref gain, i);
            Unsafe.Add(ref y, i) = yn;
        }

        return c;
    }

    /// <summary>
    /// Orders 4, 8, 12 and 16 (the default): the weights stay in one to four Vector256 registers for the whole block,
    /// so neither the dot product nor the update goes through memory. Same formulas as <see cref="InMemory"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double InRegisters<TCount>(ref double z, ref double wRef, ref double cross, ref double gain, ref double y, int count, double c)
        where TCount : struct, IVectorCount
    {
        var vectors = TCount.Count;
        var m = 4 * vectors;
        var w0 = Vector256.LoadUnsafe(ref wRef);
        var w1 = vectors > 1 ? Vector256.LoadUnsafe(ref wRef, 4) : default;
        var w2 = vectors > 2 ? Vector256.LoadUnsafe(ref wRef, 8) : default;
        var w3 = vectors > 3 ? Vector256.LoadUnsafe(ref wRef, 12) : default;
        for (var i = 0; i < count; i++)
        {
            ref var previousTaps = ref Unsafe.Add(ref z, i);
            ref var taps = ref Unsafe.Add(ref previousTaps, 1);
            var a0 = w0 * Vector256.LoadUnsafe(ref taps);
            var a1 = vectors > 1 ? w1 * Vector256.LoadUnsafe(ref taps, 4) : default;
            var a2 = vectors > 2 ? w2 * Vector256.LoadUnsafe(ref taps, 8) : default;
            var a3 = vectors > 3 ? w3 * Vector256.LoadUnsafe(ref taps, 12) : default;
            var sum = (a0 + a1) + (a2 + a3);
            var half = sum.GetLower() + sum.GetUpper();
            var yn = Math.FusedMultiplyAdd(c, Unsafe.Add(ref cross, i), half.GetElement(0) + half.GetElement(1));
            var e = Unsafe.Add(ref previousTaps, m + 1) - yn;
            var step = Vector256.Create(c);
            w0 = Vector256.FusedMultiplyAdd(step, Vector256.LoadUnsafe(ref previousTaps), w0);
            w1 = vectors > 1 ? Vector256.FusedMultiplyAdd(step, Vector256.LoadUnsafe(ref previousTaps, 4), w1) : w1;
            w2 = vectors > 2 ? Vector256.FusedMultiplyAdd(step, Vector256.LoadUnsafe(ref previousTaps, 8), w2) : w2;
            w3 = vectors > 3 ? Vector256.FusedMultiplyAdd(step, Vector256.LoadUnsafe(ref previousTaps, 12), w3) : w3;
            c = e * Unsafe.Add(ref gain, i);
            Unsafe.Add(ref y, i) = yn;
        }

        w0.StoreUnsafe(ref wRef);
        if (vectors > 1)
        {
            w1.StoreUnsafe(ref wRef, 4);
        }

        if (vectors > 2)
        {
            w2.StoreUnsafe(ref wRef, 8);
        }

        if (vectors > 3)
        {
            w3.StoreUnsafe(ref wRef, 12);
        }

        return c;
    }

    public byte[] SaveState()
    {
        var p = Parameters;
        var writer = FilterState.Begin(new byte[FilterState.Size(3, 2 * _m + 2)], FilterFactory.LmsId, SamplesProcessed, [p.Order, p.Mu, p.Eps]);
        for (var j = 1; j <= _m; j++)
        {
            writer.Write(_w[_m - j]);
        }

        writer.Write(_c);
        _taps.WriteNewestFirst(ref writer);
        return writer.Finish();
    }

    internal static LmsParameters Parse(IReadOnlyDictionary<string, double>? parameters)
        => FromValues(ParameterValidation.Resolve(Descriptor, parameters));

    internal static LmsParameters FromValues(double[] v)
    {
        ParameterValidation.Check(Descriptor.Parameters[0], v[0]);
        var p = new LmsParameters((int)v[0], v[1], v[2]);
        Validate(p);
        return p;
    }

    private static void Validate(LmsParameters p)
    {
        var d = Descriptor.Parameters;
        ParameterValidation.Check(d[0], p.Order);
        ParameterValidation.Check(d[1], p.Mu);
        ParameterValidation.Check(d[2], p.Eps);
    }

    internal static LmsFilter Restore(LmsParameters parameters, long samples, ref StateReader reader)
    {
        var m = parameters.Order;
        FilterFactory.CheckLength(ref reader, 2 * m + 2, "lms");
        var filter = new LmsFilter(parameters) { SamplesProcessed = samples };
        for (var j = 1; j <= m; j++)
        {
            filter._w[m - j] = reader.Read("weights w(n-1)");
        }

        filter._c = reader.Read("step c(n-1)");

        filter._taps.ReadNewestFirst(ref reader, samples);
        return filter;
    }
}
