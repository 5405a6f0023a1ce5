namespace SignalPipeline.Filters;

/// <summary>
/// One stream's filter: holds that stream's state between chunks. Feeding a signal in chunks gives
/// bit-identical output to feeding it whole. Not thread-safe: one instance per stream.
/// </summary>
public interface IStreamFilter
{
    /// <summary>Lower-case algorithm name: kalman, rls, ls or lms.</summary>
    string Algorithm { get; }

    /// <summary>Samples processed since the filter was created (survives a state round-trip).</summary>
    long SamplesProcessed { get; }

    /// <summary>Filters <paramref name="input"/> into <paramref name="output"/> (same length) and advances the state.</summary>
    void Process(ReadOnlySpan<double> input, Span<double> output);

    /// <summary>Snapshot of parameters and state in the versioned binary format; <see cref="FilterFactory.Restore"/> reads it.</summary>
    byte[] SaveState();
}
