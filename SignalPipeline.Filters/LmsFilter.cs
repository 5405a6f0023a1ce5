using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SignalPipeline.Filters;

/// <summary>
/// Normalised LMS one-step predictor of order M. Tap vector u = [z(n-1) .. z(n-M)] (zeros before the first sample).
/// Per sample: y = w.u; e = z - y; w += (mu e / (eps + u.u)) u; then z shifts into u.
/// </summary>
public sealed class LmsFilter : IStreamFilter, IBlockKernel, IQuadBlockKernel, IInspectableFilter
{
    internal static readonly AlgorithmDescriptor Descriptor = new(
        "lms",
        "Normalised LMS one-step linear predictor: y = w.u; e = z - y; w += mu e u / (eps + u.u).",
        [
            new("order", "Number of taps M.", 16, 1, 256, MinExclusive: false, MaxExclusive: false, IsInteger: true),
            new("mu", "Step size.", 0.1, 0, 2, MinExclusive: true, MaxExclusive: true, IsInteger: false),
            new("eps", "Regularisation added to the tap energy u.u.", 1e-6, 0, double.MaxValue, MinExclusive: true, MaxExclusive: false, IsInteger: false),
        ]);

    /// <summary>The catalogue entry (state id 3; no deployment of its own: filter-ls serves it).</summary>
    internal static readonly FilterRegistration Registration = new(
        3, Descriptor, parameters => new LmsFilter(Parse(parameters)),
        (double[] values, long samples, ref StateReader reader) => Restore(FromValues(values), samples, ref reader), "filter-ls");

    private readonly TapHistory _taps;
    private readonly int _m;
    private readonly double _mu;
    private readonly double _eps;

    // The loop carries the update two samples late (see ProcessBlock): _w holds w(n-2), _c1 = c(n-1), _c2 = c(n-2),
    // so w(n) = w(n-2) + c(n-2) u(n-2) + c(n-1) u(n-1). Weights are in time order: _w[k] multiplies z(n-M+k), _w[k] = w_(M-k).
    private readonly double[] _w;
    private double _c1;
    private double _c2;

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
        _taps = new TapHistory(_m + 2); // u(n), u(n-1) and u(n-2)
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
    /// The vector width the kernels run at: <see cref="VectorKernels.Best"/>; tests set the others to check that every
    /// width gives the same bits.
    /// </summary>
    internal VectorWidth Width { get; set; } = VectorKernels.Best;

    /// <summary>
    /// y(n) = w(n).u(n) with w(n) = w(n-2) + c(n-2) u(n-2) + c(n-1) u(n-1) is computed as
    /// w(n-2).u(n) + c(n-2) (u(n-2).u(n)) + c(n-1) (u(n-1).u(n)). The weight update and the dot product then run
    /// beside the short chain c(n-1) -> y(n) -> e -> c(n) (one FMA, a subtraction, a multiplication) with two samples
    /// of slack, instead of in front of it. The data-only terms u(n).u(n), u(n-1).u(n), u(n-2).u(n) and the
    /// normalisation mu / (eps + u.u) are computed for the whole block first, one vector lane per sample.
    /// Buffer layout: u(n-2) = buffer[i .. i + M), u(n-1) = buffer[i + 1 ..), u(n) = buffer[i + 2 ..), z(n) = buffer[M + 2 + i].
    /// </summary>
    void IBlockKernel.ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex)
        => QuadBlock.Run(this, Width, buffer, count, output);

    /// <summary>The block at one width: written once over quads (<see cref="IQuadWidth{TQuad}"/>), so the same bits at every width.</summary>
    void IQuadBlockKernel.ProcessBlock<TWidth, TQuad>(double[] buffer, int count, Span<double> output)
    {
        var m = _m;
        var scratch = t_scratch ??= new double[3 * TapHistory.BlockSize];
        ref var z = ref MemoryMarshal.GetArrayDataReference(buffer);
        var terms = new Terms(
            ref MemoryMarshal.GetArrayDataReference(scratch),
            ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(scratch), TapHistory.BlockSize),
            ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(scratch), 2 * TapHistory.BlockSize));
        VectorKernels.Correlations<TWidth, TQuad>(ref z, count, m, ref terms.Gain, ref terms.Lag1, ref terms.Lag2);

        // Element-wise (one rounding per operation), so quads and the scalar tail give the same bits.
        var mu = TWidth.Broadcast(_mu);
        var eps = TWidth.Broadcast(_eps);
        var i = 0;
        for (; i + 4 <= count; i += 4)
        {
            TWidth.Store(TWidth.Divide(mu, TWidth.Add(eps, TWidth.Load(ref terms.Gain, (nuint)i))), ref terms.Gain, (nuint)i);
        }

        for (; i < count; i++)
        {
            Unsafe.Add(ref terms.Gain, i) = _mu / (_eps + Unsafe.Add(ref terms.Gain, i));
        }

        ref var w = ref MemoryMarshal.GetArrayDataReference(_w);
        ref var y = ref MemoryMarshal.GetReference(output);
        (_c1, _c2) = m switch
        {
            4 => InRegisters<VectorCount1, TWidth, TQuad>(ref z, ref w, ref terms, ref y, count, _c1, _c2),
            8 => InRegisters<VectorCount2, TWidth, TQuad>(ref z, ref w, ref terms, ref y, count, _c1, _c2),
            12 => InRegisters<VectorCount3, TWidth, TQuad>(ref z, ref w, ref terms, ref y, count, _c1, _c2),
            16 => InRegisters<VectorCount4, TWidth, TQuad>(ref z, ref w, ref terms, ref y, count, _c1, _c2),
            _ => InMemory<TWidth, TQuad>(ref z, ref w, ref terms, ref y, count, _c1, _c2, m),
        };
    }

    /// <summary>Per-sample data-only terms of a block: mu / (eps + u(n).u(n)), u(n-1).u(n), u(n-2).u(n).</summary>
    private ref struct Terms(ref double gain, ref double lag1, ref double lag2)
    {
        public ref double Gain = ref gain;
        public ref double Lag1 = ref lag1;
        public ref double Lag2 = ref lag2;
    }

    /// <summary>Any order: weights in memory, <see cref="VectorKernels"/> dot product and update.</summary>
    private static (double C1, double C2) InMemory<TWidth, TQuad>(ref double z, ref double w, ref Terms terms, ref double y, int count, double c1, double c2, int m)
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        for (var i = 0; i < count; i++)
        {
            ref var oldest = ref Unsafe.Add(ref z, i);
            var s = VectorKernels.Dot<TWidth, TQuad>(ref w, ref Unsafe.Add(ref oldest, 2), m);
            var yn = Math.FusedMultiplyAdd(c1, Unsafe.Add(ref terms.Lag1, i), Math.FusedMultiplyAdd(c2, Unsafe.Add(ref terms.Lag2, i), s));
            var e = Unsafe.Add(ref oldest, m + 2) - yn;
            VectorKernels.AddScaled<TWidth, TQuad>(ref w, c2, ref oldest, m);
            c2 = c1;
            c1 = e * Unsafe.Add(ref terms.Gain, i);
            Unsafe.Add(ref y, i) = yn;
        }

        return (c1, c2);
    }

    /// <summary>
    /// Orders 4, 8, 12 and 16 (the default): the weights stay in one to four quads of registers for the whole block, so
    /// neither the dot product nor the update goes through memory. Same formulas as <see cref="InMemory"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double C1, double C2) InRegisters<TCount, TWidth, TQuad>(ref double z, ref double wRef, ref Terms terms, ref double y, int count, double c1, double c2)
        where TCount : struct, IVectorCount
        where TWidth : struct, IQuadWidth<TQuad>
        where TQuad : struct
    {
        var quads = TCount.Count;
        var m = 4 * quads;
        var w0 = TWidth.Load(ref wRef, 0);
        var w1 = quads > 1 ? TWidth.Load(ref wRef, 4) : default;
        var w2 = quads > 2 ? TWidth.Load(ref wRef, 8) : default;
        var w3 = quads > 3 ? TWidth.Load(ref wRef, 12) : default;
        for (var i = 0; i < count; i++)
        {
            ref var oldest = ref Unsafe.Add(ref z, i);
            ref var taps = ref Unsafe.Add(ref oldest, 2);
            var a0 = TWidth.Multiply(w0, TWidth.Load(ref taps, 0));
            var a1 = quads > 1 ? TWidth.Multiply(w1, TWidth.Load(ref taps, 4)) : default;
            var a2 = quads > 2 ? TWidth.Multiply(w2, TWidth.Load(ref taps, 8)) : default;
            var a3 = quads > 3 ? TWidth.Multiply(w3, TWidth.Load(ref taps, 12)) : default;
            var s = TWidth.Sum(TWidth.Add(TWidth.Add(a0, a1), TWidth.Add(a2, a3)));
            var yn = Math.FusedMultiplyAdd(c1, Unsafe.Add(ref terms.Lag1, i), Math.FusedMultiplyAdd(c2, Unsafe.Add(ref terms.Lag2, i), s));
            var e = Unsafe.Add(ref oldest, m + 2) - yn;
            var step = TWidth.Broadcast(c2);
            w0 = TWidth.MultiplyAdd(step, TWidth.Load(ref oldest, 0), w0);
            w1 = quads > 1 ? TWidth.MultiplyAdd(step, TWidth.Load(ref oldest, 4), w1) : w1;
            w2 = quads > 2 ? TWidth.MultiplyAdd(step, TWidth.Load(ref oldest, 8), w2) : w2;
            w3 = quads > 3 ? TWidth.MultiplyAdd(step, TWidth.Load(ref oldest, 12), w3) : w3;
            c2 = c1;
            c1 = e * Unsafe.Add(ref terms.Gain, i);
            Unsafe.Add(ref y, i) = yn;
        }

        TWidth.Store(w0, ref wRef, 0);
        if (quads > 1)
        {
            TWidth.Store(w1, ref wRef, 4);
        }

        if (quads > 2)
        {
            TWidth.Store(w2, ref wRef, 8);
        }

        if (quads > 3)
        {
            TWidth.Store(w3, ref wRef, 12);
        }

        return (c1, c2);
    }

    /// <summary>
    /// The weights the next sample gets, newest tap first (weights[0] multiplies z(n-1)): the two updates the loop
    /// carries late are applied, w(n) = w(n-2) + c(n-2) u(n-2) + c(n-1) u(n-1).
    /// </summary>
    public FilterInspection Inspect()
    {
        var p = Parameters;
        var history = _taps.History; // z(n-M-2) .. z(n-1), oldest first
        var weights = new double[_m];
        for (var k = 0; k < _m; k++)
        {
            weights[_m - 1 - k] = _w[k] + _c2 * history[k] + _c1 * history[k + 1];
        }

        return new(Algorithm, SamplesProcessed, FilterInspector.Named(Descriptor, p.Order, p.Mu, p.Eps), new Dictionary<string, double>(),
            new Dictionary<string, double[]> { ["weights"] = weights });
    }

    public bool StateIsFinite => double.IsFinite(_c1) && double.IsFinite(_c2) && FilterFactory.AllFinite(_w) && _taps.IsFinite;

    public byte[] SaveState()
    {
        var p = Parameters;
        var writer = FilterState.Begin(new byte[FilterState.Size(3, 2 * _m + 4)], Registration.Id, SamplesProcessed, [p.Order, p.Mu, p.Eps]);
        for (var j = 1; j <= _m; j++)
        {
            writer.Write(_w[_m - j]);
        }

        writer.Write(_c2);
        writer.Write(_c1);
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
        FilterFactory.CheckLength(ref reader, 2 * m + 4, "lms");
        var filter = new LmsFilter(parameters) { SamplesProcessed = samples };
        for (var j = 1; j <= m; j++)
        {
            filter._w[m - j] = reader.Read("weights w(n-2)");
        }

        filter._c2 = reader.Read("step c(n-2)");
        filter._c1 = reader.Read("step c(n-1)");

        filter._taps.ReadNewestFirst(ref reader, samples);
        return filter;
    }
}
