using System.Buffers;

namespace SignalPipeline.Messages;

/// <summary>
/// Reusable pooled storage a decoder writes samples into, so a consumer loop decodes without allocating per record.
/// A decoded chunk's signals point into this buffer and stay valid until the next decode into it; one buffer per
/// consumer loop (not thread-safe). Dispose returns the arrays to <see cref="ArrayPool{T}.Shared"/>.
/// </summary>
public sealed class SampleBuffer : IDisposable
{
    private double[] _signal = [];
    private double[] _filtered = [];

    /// <summary>Lane 0 holds <c>signal</c>, lane 1 <c>filtered_signal</c>.</summary>
    internal double[] Lane(int lane) => lane == 0 ? _signal : _filtered;

    /// <summary>Grows <paramref name="lane"/> to at least <paramref name="length"/>, keeping the first <paramref name="keep"/> values.</summary>
    internal double[] Grow(int lane, int length, int keep)
    {
        ref var array = ref lane == 0 ? ref _signal : ref _filtered;
        if (array.Length >= length)
        {
            return array;
        }

        var grown = ArrayPool<double>.Shared.Rent(Math.Max(length, Math.Max(256, array.Length * 2)));
        array.AsSpan(0, keep).CopyTo(grown);
        Return(array);
        array = grown;
        return array;
    }

    /// <summary>Returns the arrays to the pool; chunks decoded into this buffer must no longer be used.</summary>
    public void Dispose()
    {
        Return(_signal);
        Return(_filtered);
        _signal = [];
        _filtered = [];
    }

    private static void Return(double[] array)
    {
        if (array.Length > 0)
        {
            ArrayPool<double>.Shared.Return(array);
        }
    }
}
