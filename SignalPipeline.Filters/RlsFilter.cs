namespace SignalPipeline.Filters;

/// <summary>
/// Recursive-least-squares one-step linear predictor of order M with forgetting factor lambda.
/// Start: w = 0, P = I / delta, u = [z(n-1) .. z(n-M)] (zeros before the first sample). Per sample:
/// y = w.u; e = z - y; pi = P u; g = pi / (lambda + u.pi); w += g e; P = (P - g pi^T) / lambda, exactly symmetric.
/// </summary>
public sealed class RlsFilter : IStreamFilter, IBlockKernel
{
    internal static readonly AlgorithmDescriptor Descriptor = new(
        "rls",
        "Recursive least squares one-step linear predictor with forgetting factor; P kept exactly symmetric.",
        [
            new("order", "Number of taps M.", 8, 1, 64, MinExclusive: false, MaxExclusive: false, IsInteger: true),
            new("lambda", "Forgetting factor.", 0.99, 0, 1, MinExclusive: true, MaxExclusive: false, IsInteger: false),
            new("delta", "Initial inverse correlation: P starts as I / delta.", 0.01, 0, double.MaxValue, MinExclusive: true, MaxExclusive: false, IsInteger: false),
        ]);

    private readonly TapHistory _taps;
    private readonly int _m;
    private readonly double _lambda;

    // Indices in time order (index k pairs with taps[k], taps[M - 1] = z(n-1)): _w[k] = w_(M-k), _p[a, b] = P_(M-a, M-b).
    private readonly double[] _w;
    private readonly double[] _p;
    private readonly double[] _pi;

    /// <summary>Creates a filter at its initial state (w = 0, P = I / delta, u = 0).</summary>
    public RlsFilter(RlsParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Validate(parameters);
        Parameters = parameters;
        _m = parameters.Order;
        _lambda = parameters.Lambda;
        _w = new double[_m];
        _p = new double[_m * _m];
        _pi = new double[_m];
        for (var a = 0; a < _m; a++)
        {
            _p[a * _m + a] = 1 / parameters.Delta;
        }

        _taps = new TapHistory(_m);
    }

    public RlsParameters Parameters { get; }

    public string Algorithm => "rls";

    public long SamplesProcessed { get; private set; }

    public void Process(ReadOnlySpan<double> input, Span<double> output)
    {
        _taps.Process(this, input, output, SamplesProcessed);

        SamplesProcessed += input.Length;
    }

    void IBlockKernel.ProcessBlock(double[] buffer, int count, Span<double> output, long firstIndex)
    {
        int m = _m;
        double lambda = _lambda;
        double[] w = _w, p = _p, pi = _pi;
        for (var i = 0; i < count; i++)
        {
            var u = buffer.AsSpan(i, m);
            double y = 0;
            for (var k = 0; k < m; k++)
            {
                y += w[k] * u[k];
            }

            var e = buffer[i + m] - y;
            double upi = 0;
            for (var a = 0; a < m; a++)
            {
                double s = 0;
                for (var b = 0; b < m; b++)
                {
                    s += p[a * m + b] * u[b];
                }

                pi[a] = s;
                upi += u[a] * s;
            }

            var denominator = lambda + upi;
            for (var a = 0; a < m; a++)
            {
                var g = pi[a] / denominator;
                w[a] += g * e;
                for (var b = a; b < m; b++)
                {
                    var v = (p[a * m + b] - g * pi[b]) / lambda;
                    p[a * m + b] = v;
                    p[b * m + a] = v;
                }
            }

            output[i] = y;
        }
    }

    public byte[] SaveState()
    {
        var p = Parameters;
        var m = _m;
        var writer = FilterState.Begin(new byte[FilterState.Size(3, m + m * m + m)], FilterFactory.RlsId, SamplesProcessed, [p.Order, p.Lambda, p.Delta]);
        for (var j = 1; j <= m; j++)
        {
            writer.Write(_w[m - j]);
        }

        for (var r = 1; r <= m; r++)
        {
            for (var c = 1; c <= m; c++)
            {
                writer.Write(_p[(m - r) * m + (m - c)]);
            }
        }

        _taps.WriteNewestFirst(ref writer);
        return writer.Finish();
    }

    internal static RlsParameters Parse(IReadOnlyDictionary<string, double>? parameters)
        => FromValues(ParameterValidation.Resolve(Descriptor, parameters));

    internal static RlsParameters FromValues(double[] v)
    {
        ParameterValidation.Check(Descriptor.Parameters[0], v[0]);
        var p = new RlsParameters((int)v[0], v[1], v[2]);
        Validate(p);
        return p;
    }

    private static void Validate(RlsParameters p)
    {
        var d = Descriptor.Parameters;
        ParameterValidation.Check(d[0], p.Order);
        ParameterValidation.Check(d[1], p.Lambda);
        ParameterValidation.Check(d[2], p.Delta);
    }

    internal static RlsFilter Restore(RlsParameters parameters, long samples, ref StateReader reader)
    {
        var m = parameters.Order;
        FilterFactory.CheckLength(ref reader, m + m * m + m, "rls");
        var filter = new RlsFilter(parameters) { SamplesProcessed = samples };
        for (var j = 1; j <= m; j++)
        {
            filter._w[m - j] = reader.Read("weights w");
        }

        for (var r = 1; r <= m; r++)
        {
            for (var c = 1; c <= m; c++)
            {
                filter._p[(m - r) * m + (m - c)] = reader.Read("matrix P");
            }
        }

        for (var a = 0; a < m; a++)
        {
            for (var b = a + 1; b < m; b++)
            {
                if (filter._p[a * m + b] != filter._p[b * m + a])
                {
                    throw new InvalidFilterStateException("Filter state holds a matrix P that is not symmetric.");
                }
            }
        }

        filter._taps.ReadNewestFirst(ref reader, samples);
        return filter;
    }
}
