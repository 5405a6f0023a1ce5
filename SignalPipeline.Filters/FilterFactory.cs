using System.Buffers.Binary;

namespace SignalPipeline.Filters;

/// <summary>Creates filters by algorithm name and restores them from state snapshots.</summary>
public static class FilterFactory
{
    // The catalogue: one registration per algorithm, in the order GET /algorithms lists them.
    private static readonly FilterRegistration[] s_registrations =
    [
        KalmanFilter.Registration,
        RlsFilter.Registration,
        LsFilter.Registration,
        LmsFilter.Registration,
    ];

    private static readonly AlgorithmDescriptor[] s_algorithms = [.. s_registrations.Select(r => r.Descriptor)];

    /// <summary>The algorithms, one registration each: name, state id, parameters, service deployment, create and restore.</summary>
    public static IReadOnlyList<FilterRegistration> Registrations => s_registrations;

    /// <summary>The algorithms with their parameters, defaults and ranges.</summary>
    public static IReadOnlyList<AlgorithmDescriptor> Algorithms => s_algorithms;

    /// <summary>The algorithm names in catalogue order, as error messages list them ("kalman, rls, ls, lms").</summary>
    public static string KnownNames { get; } = string.Join(", ", s_registrations.Select(r => r.Name));

    /// <summary>The algorithm names in catalogue order as a sentence lists them ("kalman, rls, ls or lms").</summary>
    public static string NamesOr { get; } = s_registrations.Length == 1 ? s_registrations[0].Name
        : string.Join(", ", s_registrations.SkipLast(1).Select(r => r.Name)) + " or " + s_registrations[^1].Name;

    /// <summary>
    /// Creates a filter. The algorithm and parameter names are case-insensitive; unset parameters take their defaults.
    /// Throws <see cref="UnknownAlgorithmException"/> or <see cref="FilterParameterException"/>.
    /// </summary>
    public static IStreamFilter Create(string algorithm, IReadOnlyDictionary<string, double>? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        return (Find(algorithm.Trim()) ?? throw new UnknownAlgorithmException(algorithm)).Create(parameters);
    }

    /// <summary>The registration of <paramref name="algorithm"/> (case-insensitive), or null when there is none.</summary>
    public static FilterRegistration? Find(string algorithm)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        foreach (var registration in s_registrations)
        {
            if (string.Equals(registration.Name, algorithm, StringComparison.OrdinalIgnoreCase))
            {
                return registration;
            }
        }

        return null;
    }

    /// <summary>The registration whose state snapshots carry <paramref name="id"/>, or null (a loop, not a closure: a restore looks it up once a stream).</summary>
    private static FilterRegistration? Registration(byte id)
    {
        foreach (var registration in s_registrations)
        {
            if (registration.Id == id)
            {
                return registration;
            }
        }

        return null;
    }

    /// <summary>
    /// Restores a filter from <see cref="IStreamFilter.SaveState"/>. Throws <see cref="InvalidFilterStateException"/>
    /// when the bytes are corrupt, of an unknown version, or (with <paramref name="expectedAlgorithm"/>) of another algorithm.
    /// </summary>
    public static IStreamFilter Restore(ReadOnlySpan<byte> state, string? expectedAlgorithm = null)
    {
        FilterRegistration? expected = null;
        if (expectedAlgorithm is not null)
        {
            expected = Find(expectedAlgorithm.Trim()) ?? throw new UnknownAlgorithmException(expectedAlgorithm);
        }

        var id = FilterState.ReadHeader(state, out var samples);
        var registration = Registration(id) ?? throw new InvalidFilterStateException($"Filter state names an unknown algorithm id {id}.");
        if (expected is not null && expected != registration)
        {
            throw new InvalidFilterStateException($"Filter state belongs to algorithm '{registration.Name}', not '{expected.Name}'.");
        }

        var descriptor = registration.Descriptor;
        if (state[7] != descriptor.Parameters.Count)
        {
            throw new InvalidFilterStateException(
                $"Filter state for '{registration.Name}' declares {state[7]} parameters; version {FilterState.Version} has {descriptor.Parameters.Count}.");
        }

        var reader = new StateReader(state);
        var values = new double[descriptor.Parameters.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = reader.ReadParameter(descriptor.Parameters[i].Name);
        }

        IStreamFilter filter;
        try
        {
            filter = registration.Restore(values, samples, ref reader);
        }
        catch (FilterParameterException e)
        {
            throw new InvalidFilterStateException($"Filter state holds invalid parameters: {e.Message}");
        }

        reader.EnsureEnd();
        return filter;
    }

    /// <summary>
    /// Whether every float64 of a <see cref="IStreamFilter.SaveState"/> snapshot (parameters and state) is finite, as
    /// <see cref="Restore"/> requires. A filter driven beyond the range of a double can hold an infinity while its outputs
    /// so far are finite (lms: its step c = mu e / (eps + u.u) = mu z / eps after an input z above about 1.8e303 into empty taps, with the defaults), so its next output
    /// would not be finite and its snapshot cannot be restored: a service refuses the call rather than answer such a state.
    /// </summary>
    public static bool HoldsOnlyFiniteValues(ReadOnlySpan<byte> state)
    {
        for (var offset = FilterState.HeaderSize; offset + 8 <= state.Length - FilterState.CrcSize; offset += 8)
        {
            if (!double.IsFinite(BinaryPrimitives.ReadDoubleLittleEndian(state[offset..])))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether every value is finite (no NaN, no infinity).</summary>
    internal static bool AllFinite(ReadOnlySpan<double> values)
    {
        foreach (var value in values)
        {
            if (!double.IsFinite(value))
            {
                return false;
            }
        }

        return true;
    }

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
    : ArgumentException($"Unknown filter algorithm {Quote.Of(algorithm)}. Known: {FilterFactory.KnownNames}.", "algorithm")
{
    public string Algorithm { get; } = algorithm;

    /// <summary>The message alone, without ArgumentException's " (Parameter '...')" suffix, so it reads well in a problem response.</summary>
    public override string Message => $"Unknown filter algorithm {Quote.Of(Algorithm)}. Known: {FilterFactory.KnownNames}.";
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

/// <summary>
/// A client's text as a refusal quotes it: whole up to <see cref="MaxCharacters"/>, else its start and its length, so a
/// refusal stays small whatever was sent (a stream-config entry's reason is held by every processor instance).
/// </summary>
internal static class Quote
{
    public const int MaxCharacters = 64;

    /// <summary><c>'text'</c>, or <c>'start...' (N characters)</c>.</summary>
    public static string Of(string text) => text.Length <= MaxCharacters ? $"'{text}'" : $"'{Start(text)}...' ({text.Length} characters)";

    /// <summary><c>text</c>, or <c>start... (N characters)</c>: for text that carries its own quotes (JSON).</summary>
    public static string Raw(string text) => text.Length <= MaxCharacters ? text : $"{Start(text)}... ({text.Length} characters)";

    // Not cut between the two halves of a surrogate pair.
    private static string Start(string text) => text[..(char.IsHighSurrogate(text[MaxCharacters - 1]) ? MaxCharacters - 1 : MaxCharacters)];
}
