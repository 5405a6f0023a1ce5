namespace SignalPipeline.Filters;

/// <summary>Creates filters by algorithm name and restores them from state snapshots.</summary>
public static class FilterFactory
{
    /// <summary>The algorithms with their parameters, defaults and ranges.</summary>
    public static IReadOnlyList<AlgorithmDescriptor> Algorithms => throw new NotImplementedException("issue 3");

    /// <summary>
    /// Creates a filter. Unset parameters take their defaults.
    /// Throws <see cref="UnknownAlgorithmException"/> or <see cref="FilterParameterException"/>.
    /// </summary>
    public static IStreamFilter Create(string algorithm, IReadOnlyDictionary<string, double>? parameters = null)
        => throw new NotImplementedException("issue 3");

    /// <summary>
    /// Restores a filter from <see cref="IStreamFilter.SaveState"/>. Throws <see cref="InvalidFilterStateException"/>
    /// when the bytes are corrupt, of an unknown version, or (with <paramref name="expectedAlgorithm"/>) of another algorithm.
    /// </summary>
    public static IStreamFilter Restore(ReadOnlySpan<byte> state, string? expectedAlgorithm = null)
        => throw new NotImplementedException("issue 3");
}

/// <summary>An algorithm and its parameters.</summary>
public sealed record AlgorithmDescriptor(string Name, string Description, IReadOnlyList<ParameterDescriptor> Parameters);

/// <summary>A parameter's default and allowed range; <see cref="IsInteger"/> for counts such as order or window.</summary>
public sealed record ParameterDescriptor(
    string Name, string Description, double Default, double Min, double Max,
    bool MinExclusive, bool MaxExclusive, bool IsInteger);

/// <summary>The algorithm name is not one of <see cref="FilterFactory.Algorithms"/>.</summary>
public sealed class UnknownAlgorithmException(string algorithm)
    : ArgumentException($"Unknown filter algorithm '{algorithm}'. Known: kalman, rls, ls, lms.", "algorithm")
{
    public string Algorithm { get; } = algorithm;
}

/// <summary>A parameter is unknown or out of range; the message names the parameter and the allowed range.</summary>
public sealed class FilterParameterException(string parameter, string message) : ArgumentException(message, parameter);

/// <summary>A state snapshot is corrupt, of an unsupported version, or of another algorithm.</summary>
public sealed class InvalidFilterStateException(string message) : ArgumentException(message, "state");
