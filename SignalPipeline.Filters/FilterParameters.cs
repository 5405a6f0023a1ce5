using System.Globalization;

namespace SignalPipeline.Filters;

/// <summary>Parameters of the scalar random-walk Kalman filter (see docs/filters.md).</summary>
/// <param name="Q">Process noise, &gt; 0.</param>
/// <param name="R">Measurement noise, &gt; 0.</param>
/// <param name="X0">Initial estimate.</param>
/// <param name="P0">Initial error variance, &gt;= 0.</param>
public sealed record KalmanParameters(double Q = 1e-5, double R = 0.01, double X0 = 0, double P0 = 1);

/// <summary>Parameters of the RLS one-step linear predictor.</summary>
/// <param name="Order">Number of taps M, 1..64.</param>
/// <param name="Lambda">Forgetting factor in (0, 1].</param>
/// <param name="Delta">Regularisation: P starts as I / delta, &gt; 0.</param>
public sealed record RlsParameters(int Order = 8, double Lambda = 0.99, double Delta = 0.01);

/// <summary>Parameters of the normalised LMS one-step predictor.</summary>
/// <param name="Order">Number of taps M, 1..256.</param>
/// <param name="Mu">Step size in (0, 2).</param>
/// <param name="Eps">Regularisation of the input energy, &gt; 0.</param>
public sealed record LmsParameters(int Order = 16, double Mu = 0.1, double Eps = 1e-6);

/// <summary>Parameters of the causal sliding-window least-squares polynomial filter.</summary>
/// <param name="Window">Window length W, 2..1025.</param>
/// <param name="Degree">Polynomial degree d, 0..min(10, W - 1).</param>
public sealed record LsParameters(int Window = 31, int Degree = 2);

/// <summary>Validation of parameter values against their <see cref="ParameterDescriptor"/>.</summary>
internal static class ParameterValidation
{
    /// <summary>Reads the named parameters (case-insensitive names), applying defaults and validating each value.</summary>
    public static double[] Resolve(AlgorithmDescriptor algorithm, IReadOnlyDictionary<string, double>? parameters)
    {
        var descriptors = algorithm.Parameters;
        var values = new double[descriptors.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = descriptors[i].Default;
        }

        if (parameters is not null)
        {
            foreach (var (name, value) in parameters)
            {
                var index = IndexOf(descriptors, name);
                if (index < 0)
                {
                    throw new FilterParameterException(name,
                        $"Unknown parameter {Quote.Of(name)} for algorithm '{algorithm.Name}'. Known: {string.Join(", ", descriptors.Select(d => d.Name))}.");
                }

                values[index] = value;
            }
        }

        for (var i = 0; i < values.Length; i++)
        {
            Check(descriptors[i], values[i]);
        }

        return values;
    }

    /// <summary>Throws <see cref="FilterParameterException"/> unless <paramref name="value"/> lies in the descriptor's range.</summary>
    public static void Check(ParameterDescriptor p, double value)
    {
        var ok = double.IsFinite(value)
            && (p.MinExclusive ? value > p.Min : value >= p.Min)
            && (p.MaxExclusive ? value < p.Max : value <= p.Max)
            && (!p.IsInteger || value == Math.Floor(value));
        if (!ok)
        {
            throw new FilterParameterException(p.Name, $"Parameter '{p.Name}' must be {DescribeRange(p)}; got {Format(value)}.");
        }
    }

    /// <summary>The range as a phrase, e.g. "in (0, 1]", "an integer in [1, 64]", "a finite number &gt; 0".</summary>
    public static string DescribeRange(ParameterDescriptor p)
    {
        var lowUnbounded = p.Min <= -double.MaxValue;
        var highUnbounded = p.Max >= double.MaxValue;
        var kind = p.IsInteger ? "an integer" : "a finite number";
        if (lowUnbounded && highUnbounded)
        {
            return kind;
        }

        if (highUnbounded)
        {
            return $"{kind} {(p.MinExclusive ? ">" : ">=")} {Format(p.Min)}";
        }

        if (lowUnbounded)
        {
            return $"{kind} {(p.MaxExclusive ? "<" : "<=")} {Format(p.Max)}";
        }

        var interval = $"{(p.MinExclusive ? "(" : "[")}{Format(p.Min)}, {Format(p.Max)}{(p.MaxExclusive ? ")" : "]")}";
        return p.IsInteger ? $"an integer in {interval}" : $"in {interval}";
    }

    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static int IndexOf(IReadOnlyList<ParameterDescriptor> descriptors, string name)
    {
        for (var i = 0; i < descriptors.Count; i++)
        {
            if (string.Equals(descriptors[i].Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }
}
