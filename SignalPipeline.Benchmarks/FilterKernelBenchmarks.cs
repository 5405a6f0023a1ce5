using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using SignalPipeline.Filters;

namespace SignalPipeline.Benchmarks;

/// <summary>
/// The filter kernels (issue 3 targets: kalman >= 300M samples/s, lms(16) >= 100M/s, rls(8) >= 30M/s,
/// ls(31,2) >= 100M/s), each beside a straightforward loop implementation of the same formulas, the baseline of its
/// category. One op filters <see cref="Samples"/> samples of one stream, continuing the stream's state.
/// Run: dotnet run -c Release --project SignalPipeline.Benchmarks -- --filter '*FilterKernel*' --job short
/// </summary>
[Config(typeof(Config))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[MemoryDiagnoser]
[MedianColumn]
[MinColumn]
public class FilterKernelBenchmarks
{
    public const int Samples = 1 << 16;

    private readonly double[] _input = new double[Samples];
    private readonly double[] _output = new double[Samples];
    private IStreamFilter _kalman = null!, _rls = null!, _lms = null!, _ls = null!;
    private Straightforward.Kalman _kalmanBaseline = null!;
    private Straightforward.Rls _rlsBaseline = null!;
    private Straightforward.Lms _lmsBaseline = null!;
    private Straightforward.Ls _lsBaseline = null!;
    private Straightforward.Fir _lsFirBaseline = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        for (var n = 0; n < Samples; n++)
        {
            _input[n] = Math.Sin(0.01 * n) + 0.5 * Math.Sin(0.173 * n) + 0.3 * (random.NextDouble() - 0.5);
        }

        _kalman = FilterFactory.Create("kalman");
        _rls = FilterFactory.Create("rls", new Dictionary<string, double> { ["order"] = 8 });
        _lms = FilterFactory.Create("lms", new Dictionary<string, double> { ["order"] = 16 });
        _ls = FilterFactory.Create("ls", new Dictionary<string, double> { ["window"] = 31, ["degree"] = 2 });
        _kalmanBaseline = new(1e-5, 0.01, 0, 1);
        _rlsBaseline = new(8, 0.99, 0.01);
        _lmsBaseline = new(16, 0.1, 1e-6);
        _lsBaseline = new(31, 2);
        _lsFirBaseline = new(LsCoefficients.For(31, 2).Row(31));

        // The baselines must compute what the filters compute, or the ratios mean nothing.
        AgreeOrThrow("kalman", FilterFactory.Create("kalman"), new Straightforward.Kalman(1e-5, 0.01, 0, 1).Process);
        AgreeOrThrow("rls", FilterFactory.Create("rls"), new Straightforward.Rls(8, 0.99, 0.01).Process);
        AgreeOrThrow("lms", FilterFactory.Create("lms"), new Straightforward.Lms(16, 0.1, 1e-6).Process);
        AgreeOrThrow("ls", FilterFactory.Create("ls"), new Straightforward.Ls(31, 2).Process);
        var steadyLs = FilterFactory.Create("ls");
        steadyLs.Process(_input, new double[Samples]);
        var fir = new Straightforward.Fir(LsCoefficients.For(31, 2).Row(31));
        fir.Process(_input, new double[Samples]);
        AgreeOrThrow("ls FIR", steadyLs, fir.Process);
    }

    private delegate void Kernel(ReadOnlySpan<double> input, Span<double> output);

    private void AgreeOrThrow(string name, IStreamFilter filter, Kernel baseline)
    {
        var expected = new double[Samples];
        var actual = new double[Samples];
        baseline(_input, expected);
        filter.Process(_input, actual);
        for (var n = 0; n < Samples; n++)
        {
            if (!(Math.Abs(actual[n] - expected[n]) <= 1e-9 * Math.Max(1, Math.Abs(expected[n]))))
            {
                throw new InvalidOperationException($"{name}: sample {n} is {actual[n]:R}, the baseline gives {expected[n]:R}.");
            }
        }
    }

    [Benchmark(Baseline = true, Description = "kalman: straightforward loop"), BenchmarkCategory("kalman")]
    public void KalmanBaseline() => _kalmanBaseline.Process(_input, _output);

    [Benchmark(Description = "kalman: KalmanFilter"), BenchmarkCategory("kalman")]
    public void Kalman() => _kalman.Process(_input, _output);

    [Benchmark(Baseline = true, Description = "rls(8): straightforward loop"), BenchmarkCategory("rls")]
    public void RlsBaseline() => _rlsBaseline.Process(_input, _output);

    [Benchmark(Description = "rls(8): RlsFilter"), BenchmarkCategory("rls")]
    public void Rls() => _rls.Process(_input, _output);

    [Benchmark(Baseline = true, Description = "lms(16): straightforward loop"), BenchmarkCategory("lms")]
    public void LmsBaseline() => _lmsBaseline.Process(_input, _output);

    [Benchmark(Description = "lms(16): LmsFilter"), BenchmarkCategory("lms")]
    public void Lms() => _lms.Process(_input, _output);

    [Benchmark(Baseline = true, Description = "ls(31,2): normal equations per sample"), BenchmarkCategory("ls")]
    public void LsBaseline() => _lsBaseline.Process(_input, _output);

    [Benchmark(Description = "ls(31,2): scalar FIR, same coefficients"), BenchmarkCategory("ls")]
    public void LsScalarFir() => _lsFirBaseline.Process(_input, _output);

    [Benchmark(Description = "ls(31,2): LsFilter"), BenchmarkCategory("ls")]
    public void Ls() => _ls.Process(_input, _output);

    private sealed class Config : ManualConfig
    {
        // The generated project's build can take minutes on a shared 2-core machine (BenchmarkDotNet's default is 2).
        public Config()
        {
            AddColumn(new SamplesPerSecondColumn());
            WithBuildTimeout(TimeSpan.FromMinutes(10));
        }
    }

    /// <summary>Samples per second from the median time of one op.</summary>
    private sealed class SamplesPerSecondColumn : IColumn
    {
        public string Id => nameof(SamplesPerSecondColumn);
        public string ColumnName => "Samples/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => $"Samples filtered per second: {Samples} / median time of one op";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var statistics = summary[benchmarkCase]?.ResultStatistics;
            return statistics is null ? "-" : $"{Samples / (statistics.Median * 1e-9) / 1e6:F1}M";
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}

/// <summary>
/// The formulas of issue 3 as plain per-sample loops with streaming state: what the optimised filters are measured
/// against. Natural tap order, no vectors, no steady-state shortcuts.
/// </summary>
internal static class Straightforward
{
    internal sealed class Kalman(double q, double r, double x, double p)
    {
        public void Process(ReadOnlySpan<double> z, Span<double> y)
        {
            for (var n = 0; n < z.Length; n++)
            {
                p += q;
                var k = p / (p + r);
                x += k * (z[n] - x);
                p = (1 - k) * p;
                y[n] = x;
            }
        }
    }

    internal sealed class Lms(int m, double mu, double eps)
    {
        private readonly double[] _w = new double[m];
        private readonly double[] _u = new double[m];

        public void Process(ReadOnlySpan<double> z, Span<double> y)
        {
            for (var n = 0; n < z.Length; n++)
            {
                double yn = 0, uu = 0;
                for (var i = 0; i < m; i++)
                {
                    yn += _w[i] * _u[i];
                    uu += _u[i] * _u[i];
                }

                var c = mu * (z[n] - yn) / (eps + uu);
                for (var i = 0; i < m; i++)
                {
                    _w[i] += c * _u[i];
                }

                Array.Copy(_u, 0, _u, 1, m - 1);
                _u[0] = z[n];
                y[n] = yn;
            }
        }
    }

    internal sealed class Rls
    {
        private readonly int _m;
        private readonly double _lambda;
        private readonly double[] _w, _u, _pi, _g;
        private readonly double[,] _p;

        public Rls(int m, double lambda, double delta)
        {
            (_m, _lambda) = (m, lambda);
            (_w, _u, _pi, _g) = (new double[m], new double[m], new double[m], new double[m]);
            _p = new double[m, m];
            for (var i = 0; i < m; i++)
            {
                _p[i, i] = 1 / delta;
            }
        }

        public void Process(ReadOnlySpan<double> z, Span<double> y)
        {
            int m = _m;
            for (var n = 0; n < z.Length; n++)
            {
                double yn = 0, upi = 0;
                for (var i = 0; i < m; i++)
                {
                    yn += _w[i] * _u[i];
                }

                for (var i = 0; i < m; i++)
                {
                    double s = 0;
                    for (var j = 0; j < m; j++)
                    {
                        s += _p[i, j] * _u[j];
                    }

                    _pi[i] = s;
                    upi += _u[i] * s;
                }

                var e = z[n] - yn;
                for (var i = 0; i < m; i++)
                {
                    _g[i] = _pi[i] / (_lambda + upi);
                    _w[i] += _g[i] * e;
                }

                for (var i = 0; i < m; i++)
                {
                    for (var j = i; j < m; j++)
                    {
                        _p[i, j] = (_p[i, j] - _g[i] * _pi[j]) / _lambda;
                        _p[j, i] = _p[i, j];
                    }
                }

                Array.Copy(_u, 0, _u, 1, m - 1);
                _u[0] = z[n];
                y[n] = yn;
            }
        }
    }

    /// <summary>The definition taken literally: per sample, build and solve the normal equations of the window's fit.</summary>
    internal sealed class Ls(int window, int degree)
    {
        private readonly double[] _history = new double[window];
        private readonly double[,] _a = new double[degree + 1, degree + 1];
        private readonly double[] _b = new double[degree + 1];
        private long _count;

        public void Process(ReadOnlySpan<double> z, Span<double> y)
        {
            for (var n = 0; n < z.Length; n++)
            {
                Array.Copy(_history, 1, _history, 0, window - 1);
                _history[window - 1] = z[n];
                _count++;
                var length = (int)Math.Min(window, _count);
                var size = Math.Min(degree, length - 1) + 1;
                Array.Clear(_a);
                Array.Clear(_b);
                for (var j = 0; j < length; j++)
                {
                    double t = j, sample = _history[window - length + j], power = 1;
                    for (var r = 0; r < 2 * size - 1; r++)
                    {
                        if (r < size)
                        {
                            _b[r] += power * sample;
                        }

                        for (var c = Math.Max(0, r - size + 1); c <= Math.Min(r, size - 1); c++)
                        {
                            _a[r - c, c] += power;
                        }

                        power *= t;
                    }
                }

                y[n] = SolveAndEvaluate(size, length - 1);
            }
        }

        private double SolveAndEvaluate(int size, double at)
        {
            for (var col = 0; col < size; col++)
            {
                for (var r = col + 1; r < size; r++)
                {
                    var f = _a[r, col] / _a[col, col];
                    for (var c = col; c < size; c++)
                    {
                        _a[r, c] -= f * _a[col, c];
                    }

                    _b[r] -= f * _b[col];
                }
            }

            double value = 0;
            for (var r = size - 1; r >= 0; r--)
            {
                var s = _b[r];
                for (var c = r + 1; c < size; c++)
                {
                    s -= _a[r, c] * _b[c];
                }

                _b[r] = s / _a[r, r];
            }

            for (var r = size - 1; r >= 0; r--)
            {
                value = value * at + _b[r];
            }

            return value;
        }
    }

    /// <summary>The steady-state LS filter as a scalar FIR with the library's coefficients: isolates the vector gain.</summary>
    internal sealed class Fir(double[] h)
    {
        private readonly double[] _history = new double[h.Length - 1];

        public void Process(ReadOnlySpan<double> z, Span<double> y)
        {
            var taps = h.Length;
            for (var n = 0; n < z.Length; n++)
            {
                double acc = 0;
                for (var j = 0; j < taps; j++)
                {
                    var i = n - (taps - 1) + j;
                    acc += h[j] * (i >= 0 ? z[i] : _history[taps - 1 + i]);
                }

                y[n] = acc;
            }

            for (var j = 0; j < taps - 1; j++)
            {
                var i = z.Length - (taps - 1) + j;
                _history[j] = i >= 0 ? z[i] : _history[taps - 1 + i];
            }
        }
    }
}
