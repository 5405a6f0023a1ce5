namespace SignalPipeline.Filters;

/// <summary>What the filters' shared caches hold, for the services' gauges.</summary>
public static class FilterCaches
{
    /// <summary>Bytes of least-squares coefficient rows cached (at most 32 MiB, then emptied).</summary>
    public static long LsCoefficientBytes => LsCoefficients.CachedBytes;
}
