namespace SignalPipeline.Tests.Filters;

/// <summary>
/// Straightforward double-precision implementations of the formulas of issue 3, written independently of the
/// library (plain loops, natural tap order, no history buffers, no steady-state shortcuts, no vector code).
/// They are what the library is checked against.
/// </summary>
internal static class ReferenceFilters
{
    public static double[] Kalman(double[] z, double q, double r, double x0, double p0)
    {
        var y = new double[z.Length];
        double x = x0, p = p0;
        for (var n = 0; n < z.Length; n++)
        {
            p = p + q;
            var k = p / (p + r);
            x = x + k * (z[n] - x);
            p = (1 - k) * p;
            y[n] = x;
        }

        return y;
    }

    /// <summary>
    /// rls as docs/filters.md states it: the plain update, with forgetting paused while it would take P's largest
    /// diagonal element above 1e50, and the two restarts: w = 0 and P = I / delta when w.u is not finite (that sample
    /// predicts 0); otherwise P = I / delta keeping w when lambda + u.pi is NaN, or is infinite from a non-finite pi
    /// (the step would turn w non-finite), and the step taken from there. At most one restart a sample.
    /// </summary>
    public static double[] Rls(double[] z, int m, double lambda, double delta)
    {
        const double maxCovariance = 1e50;
        var y = new double[z.Length];
        var w = new double[m];
        var u = new double[m];
        var pi = new double[m];
        var g = new double[m];
        var p = new double[m, m];
        Restart(p, delta);
        for (var n = 0; n < z.Length; n++)
        {
            double yn = 0;
            for (var i = 0; i < m; i++)
            {
                yn += w[i] * u[i];
            }

            var restarted = !double.IsFinite(yn);
            if (restarted)
            {
                Array.Clear(w);
                Restart(p, delta);
                yn = 0;
            }

            var e = z[n] - yn;
            var upi = Multiply(p, u, pi);
            if (!restarted && !double.IsFinite(lambda + upi) && (double.IsNaN(lambda + upi) || !pi.All(double.IsFinite)))
            {
                Restart(p, delta);
                upi = Multiply(p, u, pi);
            }

            for (var i = 0; i < m; i++)
            {
                g[i] = pi[i] / (lambda + upi);
                w[i] += g[i] * e;
            }

            var largest = Enumerable.Range(0, m).Max(i => p[i, i]);
            var forget = largest / lambda > maxCovariance ? 1 : lambda;

            // Upper triangle, mirrored: keeps P exactly symmetric.
            for (var i = 0; i < m; i++)
            {
                for (var j = i; j < m; j++)
                {
                    p[i, j] = (p[i, j] - g[i] * pi[j]) / forget;
                    p[j, i] = p[i, j];
                }
            }

            Shift(u, z[n]);
            y[n] = yn;
        }

        return y;
    }

    /// <summary>pi = P u; returns u.pi.</summary>
    private static double Multiply(double[,] p, double[] u, double[] pi)
    {
        double upi = 0;
        for (var i = 0; i < u.Length; i++)
        {
            double s = 0;
            for (var j = 0; j < u.Length; j++)
            {
                s += p[i, j] * u[j];
            }

            pi[i] = s;
            upi += u[i] * s;
        }

        return upi;
    }

    private static void Restart(double[,] p, double delta)
    {
        Array.Clear(p);
        for (var i = 0; i < p.GetLength(0); i++)
        {
            p[i, i] = 1 / delta;
        }
    }

    public static double[] Lms(double[] z, int m, double mu, double eps)
    {
        var y = new double[z.Length];
        var w = new double[m];
        var u = new double[m];
        for (var n = 0; n < z.Length; n++)
        {
            double yn = 0, uu = 0;
            for (var i = 0; i < m; i++)
            {
                yn += w[i] * u[i];
                uu += u[i] * u[i];
            }

            var e = z[n] - yn;
            var c = mu * e / (eps + uu);
            for (var i = 0; i < m; i++)
            {
                w[i] += c * u[i];
            }

            Shift(u, z[n]);
            y[n] = yn;
        }

        return y;
    }

    /// <summary>
    /// Solves the least-squares normal equations for every sample. Positions 0..L-1 are mapped affinely to [-1, 1]
    /// (the fitted values are the same; the normal equations are far better conditioned), the system is solved by
    /// Gaussian elimination with partial pivoting, and the polynomial is evaluated at the last position.
    /// </summary>
    public static double[] Ls(double[] z, int window, int degree)
    {
        var y = new double[z.Length];
        for (var n = 0; n < z.Length; n++)
        {
            var length = Math.Min(window, n + 1);
            var d = Math.Min(degree, length - 1);
            var size = d + 1;
            var a = new double[size, size];
            var b = new double[size];
            var half = (length - 1) / 2.0;
            for (var j = 0; j < length; j++)
            {
                var t = length == 1 ? 0 : (j - half) / half;
                var sample = z[n - length + 1 + j];
                for (var r = 0; r < size; r++)
                {
                    b[r] += Math.Pow(t, r) * sample;
                    for (var c = 0; c < size; c++)
                    {
                        a[r, c] += Math.Pow(t, r + c);
                    }
                }
            }

            var coefficients = Solve(a, b);
            var last = length == 1 ? 0 : 1.0;
            double value = 0;
            for (var r = 0; r < size; r++)
            {
                value += coefficients[r] * Math.Pow(last, r);
            }

            y[n] = value;
        }

        return y;
    }

    private static double[] Solve(double[,] a, double[] b)
    {
        var n = b.Length;
        for (var col = 0; col < n; col++)
        {
            var pivot = col;
            for (var r = col + 1; r < n; r++)
            {
                if (Math.Abs(a[r, col]) > Math.Abs(a[pivot, col]))
                {
                    pivot = r;
                }
            }

            for (var c = 0; c < n; c++)
            {
                (a[col, c], a[pivot, c]) = (a[pivot, c], a[col, c]);
            }

            (b[col], b[pivot]) = (b[pivot], b[col]);
            for (var r = col + 1; r < n; r++)
            {
                var f = a[r, col] / a[col, col];
                for (var c = col; c < n; c++)
                {
                    a[r, c] -= f * a[col, c];
                }

                b[r] -= f * b[col];
            }
        }

        var x = new double[n];
        for (var r = n - 1; r >= 0; r--)
        {
            var s = b[r];
            for (var c = r + 1; c < n; c++)
            {
                s -= a[r, c] * x[c];
            }

            x[r] = s / a[r, r];
        }

        return x;
    }

    private static void Shift(double[] u, double newest)
    {
        for (var i = u.Length - 1; i > 0; i--)
        {
            u[i] = u[i - 1];
        }

        if (u.Length > 0)
        {
            u[0] = newest;
        }
    }
}
