namespace SignalPipeline.Filters;

/// <summary>Creates filters by algorithm name and restores them from state snapshots.</summary>
public static class FilterFactory
{
    internal const byte KalmanId = 1, RlsId = 2, LmsId = 3, LsId = 4;

    private static readonly AlgorithmDescriptor[] s_algorithms =
    [
        KalmanFilter.Descriptor,
        RlsFilter.Descriptor,
        LsFilter.Descriptor,
        LmsFilter.Descriptor,
    ];

    /// <summary>The algorithms with their parameters, defaults and ranges.</summary>
    public static IReadOnlyList<AlgorithmDescriptor> Algorithms => s_algorithms;

    /// <summary>
    /// Creates a filter. The algorithm and parameter names are case-insensitive; unset parameters take their defaults.
    /// Throws <see cref="UnknownAlgorithmException"/> or <see cref="FilterParameterException"/>.
    /// </summary>
    public static IStreamFilter Create(string algorithm, IReadOnlyDictionary<string, double>? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        return Normalize(algorithm) switch
        {
            "kalman" => new KalmanFilter(KalmanFilter.Parse(parameters)),
            "rls" => new RlsFilter(RlsFilter.Parse(parameters)),
            "lms" => new LmsFilter(LmsFilter.Parse(parameters)),
            "ls" => new LsFilter(LsFilter.Parse(parameters)),
            _ => throw new UnknownAlgorithmException(algorithm),
        };
    }

    /// <summary>
    /// Restores a filter from <see cref="IStreamFilter.SaveState"/>. Throws <see cref="InvalidFilterStateException"/>
    /// when the bytes are corrupt, of an unknown version, or (with <paramref name="expectedAlgorithm"/>) of another algorithm.
    /// </summary>
    public static IStreamFilter Restore(ReadOnlySpan<byte> state, string? expectedAlgorithm = null)
    {
        string? expected = null;
        if (expectedAlgorithm is not null)
        {
            expected = Normalize(expectedAlgorithm);
            if (IdOf(expected) == 0)
            {
                throw new UnknownAlgorithmException(expectedAlgorithm);
            }
        }

        var id = FilterState.ReadHeader(state, out var samples);
        var name = NameOf(id) ?? throw new InvalidFilterStateException($"Filter state names an unknown algorithm id {id}.");
        if (expected is not null && expected != name)
        {
            throw new InvalidFilterStateException($"Filter state belongs to algorithm '{name}', not '{expected}'.");
        }

        var descriptor = s_algorithms.First(a => a.Name == name);
        if (state[7] != descriptor.Parameters.Count)
        {
            throw new InvalidFilterStateException(
                $"Filter state for '{name}' declares {state[7]} parameters; version {FilterState.Version} has {descriptor.Parameters.Count}.");
        }

        var reader = new StateReader(state);
        var values = new double[descriptor.Parameters.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = reader.Read($"parameter '{descriptor.Parameters[i].Name}'");
        }

        IStreamFilter filter;
        try
        {
            filter = id switch
            {
                KalmanId => KalmanFilter.Restore(KalmanFilter.FromValues(values), samples, ref reader),
                RlsId => RlsFilter.Restore(RlsFilter.FromValues(values), samples, ref reader),
                LmsId => LmsFilter.Restore(LmsFilter.FromValues(values), samples, ref reader),
                _ => LsFilter.Restore(LsFilter.FromValues(values), samples, ref reader),
            };
        }
        catch (FilterParameterException e)
        {
            throw new InvalidFilterStateException($"Filter state holds invalid parameters: {e.Message}");
        }

        reader.EnsureEnd();
        return filter;
    }

    private static string Normalize(string algorithm) => algorithm.Trim().ToLowerInvariant();

    private static byte IdOf(string name) => name switch
    {
        "kalman" => KalmanId,
        "rls" => RlsId,
        "lms" => LmsId,
        "ls" => LsId,
        _ => 0,
    };

    private static string? NameOf(byte id) => id switch
    {
        KalmanId => "kalman",
        RlsId => "rls",
        LmsId => "lms",
        LsId => "ls",
        _ => null,
    };

    /// <summary>Checks the snapshot's total length once the parameters (and so the state size) are known.</summary>
    internal static void CheckLength(ref StateReader reader, int stateCount, string algorithm)
    {
        if (reader.Remaining != stateCount * 8)
        {
            throw new InvalidFilterStateException(
                $"Filter state for '{algorithm}' has {reader.Remaining} bytes of state; its parameters require {stateCount * 8}.");
        }
    }
}

/// <summary>An algorithm and its parameters.</summary>
public sealed record AlgorithmDescriptor(string Name, string Description, IReadOnlyList<ParameterDescriptor> Parameters);

/// <summary>A parameter's default and allowed range; <see cref="IsInteger"/> for counts such as order or window.</summary>
/// <remarks>An unbounded side is given as <see cref="double.MaxValue"/> (or its negation) so the descriptor serialises to JSON.</remarks>
public sealed record ParameterDescriptor(
    string Name, string Description, double Default, double Min, double Max,
    bool MinExclusive, bool MaxExclusive, bool IsInteger);

/// <summary>The algorithm name is not one of <see cref="FilterFactory.Algorithms"/>.</summary>
public sealed class UnknownAlgorithmException(string algorithm)
    : ArgumentException($"Unknown filter algorithm '{algorithm}'. Known: kalman, rls, ls, lms.", "algorithm")
{
    public string Algorithm { get; } = algorithm;

    /// <summary>The message alone, without ArgumentException's " (Parameter '...')" suffix, so it reads well in a problem response.</summary>
    public override string Message => $"Unknown filter algorithm '{Algorithm}'. Known: kalman, rls, ls, lms.";
}

/// <summary>A parameter is unknown or out of range; the message names the parameter and the allowed range.</summary>
public sealed class FilterParameterException(string parameter, string message) : ArgumentException(message, parameter)
{
    /// <summary>The message alone, without ArgumentException's " (Parameter '...')" suffix.</summary>
    public override string Message { get; } = message;
}

/// <summary>A state snapshot is corrupt, of an unsupported version, or of another algorithm.</summary>
public sealed class InvalidFilterStateException(string message) : ArgumentException(message, "state")
{
    /// <summary>The message alone, without ArgumentException's " (Parameter 'state')" suffix.</summary>
    public override string Message { get; } = message;
}
