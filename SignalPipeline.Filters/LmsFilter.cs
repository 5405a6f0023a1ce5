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

    // Weights in time order: _w[k] multiplies taps[k], where taps[M - 1] = z(n-1); so _w[k] = w_(M-k).
    private readonly double[] _w;

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
        _taps = new TapHistory(_m);
    }

    public LmsParameters Parameters { get; }

    public string Algorithm => "lms";

    public long SamplesProcessed { get; private set; }

    public void Process(ReadOnlySpan<double> input, Span<double> output)
    {
        _taps.Process(this, input, output, SamplesProcessed);

        SamplesProcessed += input.Length;
    }

    void IBlockKernel.ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex)
    {
        var m = _m;
        var w = _w;
        for (var i = 0; i < count; i++)
        {
            var taps = buffer.AsSpan(i, m);
            double y = 0, energy = 0;
            for (var k = 0; k < m; k++)
            {
                y += w[k] * taps[k];
                energy += taps[k] * taps[k];
            }

            var e = buffer[i + m] - y;
            var c = _mu * e / (_eps + energy);
            for (var k = 0; k < m; k++)
            {
                w[k] += c * taps[k];
            }

            output[i] = y;
        }
    }

    public byte[] SaveState()
    {
        var p = Parameters;
        var writer = FilterState.Begin(new byte[FilterState.Size(3, 2 * _m)], FilterFactory.LmsId, SamplesProcessed, [p.Order, p.Mu, p.Eps]);
        for (var j = 1; j <= _m; j++)
        {
            writer.Write(_w[_m - j]);
        }

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
        FilterFactory.CheckLength(ref reader, 2 * m, "lms");
        var filter = new LmsFilter(parameters) { SamplesProcessed = samples };
        for (var j = 1; j <= m; j++)
        {
            filter._w[m - j] = reader.Read("weights w");
        }

        filter._taps.ReadNewestFirst(ref reader, samples);
        return filter;
    }
}
