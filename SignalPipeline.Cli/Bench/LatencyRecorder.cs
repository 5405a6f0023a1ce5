namespace SignalPipeline.Cli.Bench;

/// <summary>End-to-end latencies in milliseconds; percentiles by sorting (a bench run records at most a few 100k).</summary>
public sealed class LatencyRecorder
{
    private readonly List<double> _values = [];

    public int Count
    {
        get { lock (_values) { return _values.Count; } }
    }

    public void Record(double milliseconds)
    {
        lock (_values)
        {
            _values.Add(milliseconds);
        }
    }

    public LatencySummary? Summarize()
    {
        double[] sorted;
        lock (_values)
        {
            if (_values.Count == 0)
            {
                return null;
            }

            sorted = [.. _values];
        }

        Array.Sort(sorted);
        return new LatencySummary(sorted.Length, Percentile(sorted, 0.50), Percentile(sorted, 0.95), Percentile(sorted, 0.99), sorted[^1]);
    }

    /// <summary>Nearest-rank percentile.</summary>
    private static double Percentile(double[] sorted, double p)
        => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

public sealed record LatencySummary(int Count, double P50, double P95, double P99, double Max);
