namespace SignalPipeline.Filters;

/// <summary>
/// One stream's filter: holds that stream's state between chunks. Feeding a signal in chunks gives
/// bit-identical output to feeding it whole. Not thread-safe: one instance per stream.
/// </summary>
public interface IStreamFilter
{
    /// <summary>Lower-case algorithm name, one of <see cref="FilterFactory.Registrations"/> (kalman, rls, ls or lms).</summary>
    string Algorithm { get; }

    /// <summary>Samples processed since the filter was created (survives a state round-trip).</summary>
    long SamplesProcessed { get; }

    /// <summary>Filters <paramref name="input"/> into <paramref name="output"/> (same length) and advances the state.</summary>
    void Process(ReadOnlySpan<double> input, Span<double> output);

    /// <summary>Snapshot of parameters and state in the versioned binary format; <see cref="FilterFactory.Restore"/> reads it.</summary>
    byte[] SaveState();

    /// <summary>
    /// Whether <see cref="SaveState"/> would hold only finite values, as <see cref="FilterFactory.Restore"/> requires,
    /// found without taking a snapshot. A filter driven beyond the range of a double can hold an infinity while every
    /// output so far is finite (lms after an input near 1e306), and then every later output is not: a caller that keeps
    /// a stream going checks this after each chunk (the processor dead-letters the chunk and goes on from before it; a
    /// filter service answers 422).
    /// </summary>
    bool StateIsFinite => FilterFactory.HoldsOnlyFiniteValues(SaveState());
}
