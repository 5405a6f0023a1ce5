
namespace FilterService;

/// <summary>
/// A growable run of samples in a pooled array (<see cref="RequestArrays"/>): the request parser appends numbers here
/// instead of boxing them into a list, and the filters read and write spans of it. It never grows past
/// <paramref name="maxCount"/> (FilterService:MaxSamplesPerRequest): a request that needs more gets 413 before its
/// samples are all in memory.
/// </summary>
public sealed class SampleList(int initialCapacity = 4096, int maxCount = int.MaxValue) : IDisposable
{
    private double[] _items = RequestArrays.Rent<double>(Math.Clamp(initialCapacity, 16, Math.Max(16, maxCount)));

    public int Count { get; private set; }

    public double[] Array => _items;

    public Span<double> Span => _items.AsSpan(0, Count);

    public void Add(double value)
    {
        if (Count == _items.Length || Count == maxCount)
        {
            Grow(Count + 1);
        }

        _items[Count++] = value;
    }

    /// <summary>Appends <paramref name="length"/> uninitialised samples and returns them for writing.</summary>
    public Span<double> Append(int length)
    {
        if (Count + length > _items.Length || Count + length > maxCount)
        {
            Grow(Count + length);
        }

        var span = _items.AsSpan(Count, length);
        Count += length;
        return span;
    }

    private void Grow(int needed)
    {
        if (needed > maxCount || needed < 0)
        {
            throw FilterRequestException.TooLarge("samples",
                $"The request carries more than {maxCount} samples; the limit (FilterService:MaxSamplesPerRequest) is {maxCount} samples.");
        }

        var larger = RequestArrays.Rent<double>(Math.Min(Math.Max(needed, _items.Length * 2), maxCount));
        _items.AsSpan(0, Count).CopyTo(larger);
        RequestArrays.Return(_items);
        _items = larger;
    }

    public void Dispose()
    {
        if (_items.Length > 0)
        {
            RequestArrays.Return(_items);
            _items = [];
            Count = 0;
        }
    }
}
