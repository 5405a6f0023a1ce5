using System.Collections.Concurrent;

namespace SignalPipeline.Filters;

/// <summary>
/// The sliding-window least-squares filter is linear in the window's samples: the fitted polynomial's value at the
/// last position is h . z, where h is the last row of the hat matrix X (X^T X)^-1 X^T. This computes h for window
/// lengths L = 1..W of one (W, d), in double-double arithmetic (about 106 bits), from the discrete orthogonal
/// polynomials of the positions (Stieltjes procedure on the centred positions j - (L-1)/2):
/// h_j = sum_k p_k(j) p_k(L-1) / ||p_k||^2, then rounds each coefficient to double. Rows are computed when first
/// needed and shared by all filters of the process: a stream restored past its warm-up only ever needs row W.
/// </summary>
internal sealed class LsCoefficients
{
    private static readonly ConcurrentDictionary<(int Window, int Degree), LsCoefficients> s_cache = new();
    private static readonly Lock s_clearing = new();
    private static long s_bytes;
    private static int s_generation;

    private readonly int _degree;
    private readonly double[]?[] _rows;
    private readonly int _generation;

    private LsCoefficients(int window, int degree)
    {
        _degree = degree;
        _rows = new double[]?[window];
        _generation = Volatile.Read(ref s_generation);
    }

    /// <summary>
    /// Most (window, degree) pairs kept. Clients choose the pairs (up to 1024 x 11, each up to ~4 MB of rows), so the
    /// cache is bounded: when full it is emptied and refilled by the pairs in use (filters keep their own instance, and
    /// recomputing a row gives the same bits).
    /// </summary>
    public const int MaxCachedPairs = 64;

    /// <summary>
    /// Most bytes of rows the cached pairs hold (32 MiB): a pair's rows are computed as its filters need them (all of
    /// them, ~4.2 MB at window 1024, for a stream that starts at its first sample), so 64 pairs alone could hold 270 MB.
    /// A row that takes the cache past it empties the cache, as <see cref="MaxCachedPairs"/> does.
    /// </summary>
    public const long MaxCachedBytes = 32L << 20;

    /// <summary>Bytes of rows the cached pairs hold now (gauge <c>signalpipeline.filter.ls_cache.bytes</c>).</summary>
    public static long CachedBytes => Interlocked.Read(ref s_bytes);

    public static LsCoefficients For(int window, int degree)
    {
        if (s_cache.TryGetValue((window, degree), out var cached))
        {
            return cached;
        }

        if (s_cache.Count >= MaxCachedPairs)
        {
            Clear();
        }

        return s_cache.GetOrAdd((window, degree), static key => new(key.Window, key.Degree));
    }

    /// <summary>Pairs cached now (for tests and diagnostics).</summary>
    internal static int CachedPairs => s_cache.Count;

    /// <summary>
    /// Empties the cache. Pairs already handed out stay with their filters, which keep computing their rows; those rows
    /// are the filters' own from now on and no longer counted (they go with the filters).
    /// </summary>
    private static void Clear()
    {
        lock (s_clearing)
        {
            Interlocked.Increment(ref s_generation);
            s_cache.Clear();
            Interlocked.Exchange(ref s_bytes, 0);
        }
    }

    /// <summary>Counts a row this pair has just computed, if the pair is still cached; empties the cache past <see cref="MaxCachedBytes"/>.</summary>
    private void Count(double[] row)
    {
        if (_generation == Volatile.Read(ref s_generation)
            && Interlocked.Add(ref s_bytes, row.Length * (long)sizeof(double)) > MaxCachedBytes)
        {
            Clear();
        }
    }

    /// <summary>The <paramref name="length"/> coefficients for a window of that length (degree min(d, length - 1)).</summary>
    public double[] Row(int length)
    {
        // A race computes the same row twice, deterministically: the first stored is kept and counted.
        var row = Volatile.Read(ref _rows[length - 1]);
        if (row is null)
        {
            row = Compute(length, Math.Min(_degree, length - 1));
            if (Interlocked.CompareExchange(ref _rows[length - 1], row, null) is { } first)
            {
                return first;
            }

            Count(row);
        }

        return row;
    }

    /// <summary>The coefficients for one window length; exact interpolation (h = e_last) when degree = length - 1.</summary>
    internal static double[] Compute(int length, int degree)
    {
        var h = new double[length];
        if (degree == length - 1)
        {
            h[length - 1] = 1;
            return h;
        }

        var centre = (length - 1) / 2.0; // exact: a half-integer
        var previous = new DoubleDouble[length];
        var current = new DoubleDouble[length];
        var next = new DoubleDouble[length];
        var sum = new DoubleDouble[length];
        DoubleDouble norm = length, previousNorm = 1;
        for (var j = 0; j < length; j++)
        {
            current[j] = 1;
            sum[j] = DoubleDouble.One / norm; // k = 0 term: p_0(j) p_0(L-1) / ||p_0||^2
        }

        for (var k = 0; k < degree; k++)
        {
            DoubleDouble moment = 0;
            for (var j = 0; j < length; j++)
            {
                moment += (j - centre) * current[j] * current[j];
            }

            var alpha = moment / norm;
            var beta = k == 0 ? (DoubleDouble)0 : norm / previousNorm;
            DoubleDouble nextNorm = 0;
            for (var j = 0; j < length; j++)
            {
                next[j] = ((j - centre) - alpha) * current[j] - beta * previous[j];
                nextNorm += next[j] * next[j];
            }

            var last = next[length - 1] / nextNorm;
            for (var j = 0; j < length; j++)
            {
                sum[j] += next[j] * last;
            }

            (previous, current, next) = (current, next, previous);
            previousNorm = norm;
            norm = nextNorm;
        }

        for (var j = 0; j < length; j++)
        {
            h[j] = sum[j].ToDouble();
        }

        return h;
    }
}

/// <summary>An unevaluated sum hi + lo of two doubles (|lo| &lt;= ulp(hi)/2): about 106 bits of precision.</summary>
internal readonly record struct DoubleDouble(double Hi, double Lo)
{
    public static readonly DoubleDouble One = new(1, 0);

    public static implicit operator DoubleDouble(double value) => new(value, 0);

    public double ToDouble() => Hi + Lo;

    public static DoubleDouble operator +(DoubleDouble a, DoubleDouble b)
    {
        var (s, e) = TwoSum(a.Hi, b.Hi);
        var (t, f) = TwoSum(a.Lo, b.Lo);
        e += t;
        (s, e) = FastTwoSum(s, e);
        e += f;
        return FastTwoSumDd(s, e);
    }

    public static DoubleDouble operator -(DoubleDouble a) => new(-a.Hi, -a.Lo);

    public static DoubleDouble operator -(DoubleDouble a, DoubleDouble b) => a + -b;

    public static DoubleDouble operator *(DoubleDouble a, DoubleDouble b)
    {
        var p = a.Hi * b.Hi;
        var e = Math.FusedMultiplyAdd(a.Hi, b.Hi, -p);
        e += a.Hi * b.Lo + a.Lo * b.Hi;
        return FastTwoSumDd(p, e);
    }

    public static DoubleDouble operator /(DoubleDouble a, DoubleDouble b)
    {
        // Two Newton-style correction steps on the double quotient.
        var q1 = a.Hi / b.Hi;
        var r = a - b * q1;
        var q2 = r.Hi / b.Hi;
        r -= b * q2;
        var q3 = r.Hi / b.Hi;
        return FastTwoSumDd(q1, q2) + q3;
    }

    private static (double Sum, double Error) TwoSum(double a, double b)
    {
        var s = a + b;
        var bb = s - a;
        return (s, (a - (s - bb)) + (b - bb));
    }

    private static (double Sum, double Error) FastTwoSum(double a, double b)
    {
        var s = a + b;
        return (s, b - (s - a));
    }

    private static DoubleDouble FastTwoSumDd(double a, double b)
    {
        var (s, e) = FastTwoSum(a, b);
        return new DoubleDouble(s, e);
    }
}
