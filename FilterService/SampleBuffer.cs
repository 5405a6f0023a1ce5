using System.Buffers;

namespace FilterService;

/// <summary>
/// A growable run of samples in an <see cref="ArrayPool{T}"/> array: the request parser appends numbers here
/// instead of boxing them into a list, and the filters read and write spans of it.
/// </summary>
public sealed class SampleBuffer(int initialCapacity = 4096) : IDisposable
{
    private double[] _items = ArrayPool<double>.Shared.Rent(Math.Max(16, initialCapacity));

    public int Count { get; private set; }

    public double[] Array => _items;

    public Span<double> Span => _items.AsSpan(0, Count);

    public void Add(double value)
    {
        if (Count == _items.Length)
        {
            Grow(Count + 1);
        }

        _items[Count++] = value;
    }

    /// <summary>Appends <paramref name="length"/> uninitialised samples and returns them for writing.</summary>
    public Span<double> Append(int length)
    {
        if (Count + length > _items.Length)
        {
            Grow(Count + length);
        }

        var span = _items.AsSpan(Count, length);
        Count += length;
        return span;
    }

    private void Grow(int needed)
    {
        var larger = ArrayPool<double>.Shared.Rent(Math.Max(needed, _items.Length * 2));
        _items.AsSpan(0, Count).CopyTo(larger);
        ArrayPool<double>.Shared.Return(_items);
        _items = larger;
    }

    public void Dispose()
    {
        if (_items.Length > 0)
        {
            ArrayPool<double>.Shared.Return(_items);
            _items = [];
            Count = 0;
        }
    }
}
