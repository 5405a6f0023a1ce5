using System.Buffers.Binary;
using System.IO.Hashing;

namespace SignalPipeline.Filters;

/// <summary>
/// What a filter holds now, in readable form (docs/filters.md, "Reading a filter's state"): its parameters by name,
/// its scalar state (kalman: estimate, error variance, gain; ls: window fill) and its vectors (rls/lms: the weights,
/// newest tap first).
/// </summary>
public sealed record FilterInspection(
    string Algorithm,
    long SamplesProcessed,
    IReadOnlyDictionary<string, double> Parameters,
    IReadOnlyDictionary<string, double> Values,
    IReadOnlyDictionary<string, double[]> Vectors);

/// <summary>A filter that can show its state readably; every filter of <see cref="FilterFactory.Algorithms"/> is one.</summary>
public interface IInspectableFilter
{
    /// <summary>A copy of the filter's parameters and state, readable; the filter is not changed.</summary>
    FilterInspection Inspect();
}

/// <summary>Reads state snapshots readably and carries a state over to new parameters of the same algorithm.</summary>
public static class FilterInspector
{
    /// <summary>The readable form of a <see cref="IStreamFilter.SaveState"/> snapshot (throws <see cref="InvalidFilterStateException"/>).</summary>
    public static FilterInspection Inspect(ReadOnlySpan<byte> state) => ((IInspectableFilter)FilterFactory.Restore(state)).Inspect();

    /// <summary>
    /// The filter of <paramref name="state"/> with its parameters replaced by <paramref name="parameters"/> (validated as
    /// <see cref="FilterFactory.Create"/> does; unset ones take their defaults), keeping everything it has learned; null
    /// when the new parameters change the state's shape (rls/lms order, ls window), so nothing can be kept.
    /// </summary>
    public static IStreamFilter? Retune(ReadOnlySpan<byte> state, IReadOnlyDictionary<string, double>? parameters)
    {
        var filter = FilterFactory.Restore(state);
        var descriptor = FilterFactory.Algorithms.First(a => a.Name == filter.Algorithm);
        var values = ParameterValidation.Resolve(descriptor, parameters);

        // Each value is in its range; the rules between them (ls: degree < window) are the filter's own.
        FilterFactory.Create(filter.Algorithm, parameters);
        var copy = state.ToArray();
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(copy.AsSpan(FilterState.HeaderSize + 8 * i), values[i]);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(copy.Length - FilterState.CrcSize), Crc32.HashToUInt32(copy.AsSpan(0, copy.Length - FilterState.CrcSize)));
        try
        {
            return FilterFactory.Restore(copy);
        }
        catch (InvalidFilterStateException)
        {
            // The parameters size the state (an order, a window): the learned state does not fit them.
            return null;
        }
    }

    /// <summary>The parameters by their descriptor names.</summary>
    internal static IReadOnlyDictionary<string, double> Named(AlgorithmDescriptor descriptor, params double[] values)
    {
        var named = new Dictionary<string, double>(values.Length, StringComparer.Ordinal);
        for (var i = 0; i < values.Length; i++)
        {
            named[descriptor.Parameters[i].Name] = values[i];
        }

        return named;
    }
}
