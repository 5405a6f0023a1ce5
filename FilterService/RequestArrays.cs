using System.Buffers;
using System.Runtime.CompilerServices;

namespace FilterService;

/// <summary>
/// Where request buffers come from. Up to 2 MiB (every processor request) from the shared pool. Larger ones (a 16 MiB
/// body and its 16 MiB of samples in and out) from <see cref="LargeArrayCache"/>, which keeps at most
/// <see cref="LargeArrayCache.SharedMaxBytes"/> of them between requests: the shared pool keeps several arrays per size per
/// core, and for 16-32 MiB buffers that retention alone exceeded a 512Mi pod's heap under load (measured with the
/// bench's abuse scenario: OutOfMemoryException at a 384 MiB heap cap); allocating each one anew instead made every
/// large request allocate ~50 MB on the large object heap, and the gen2 collections that followed paused the small
/// requests too (docs/benchmarks.md, Abuse).
/// </summary>
internal static class RequestArrays
{
    private const long PooledMaxBytes = 2 * 1024 * 1024;

    public static T[] Rent<T>(int length)
        => (long)length * Unsafe.SizeOf<T>() <= PooledMaxBytes ? ArrayPool<T>.Shared.Rent(length) : LargeArrayCache.Shared.Rent<T>(length);

    public static void Return<T>(T[] array)
    {
        if (array.Length == 0)
        {
            return;
        }

        // Pooled arrays are at most PooledMaxBytes; anything larger came from the cache and goes back there.
        if ((long)array.Length * Unsafe.SizeOf<T>() <= PooledMaxBytes)
        {
            ArrayPool<T>.Shared.Return(array);
        }
        else
        {
            LargeArrayCache.Shared.Return(array);
        }
    }
}

/// <summary>
/// A bounded cache of the arrays over 2 MiB that requests use: at most <paramref name="maxBytes"/> in all (the shared
/// one: the buffers of one 16 MiB request, for the large lane's one slot, FilterService:MaxConcurrentRequests), so what
/// it keeps is memory the worst case needs anyway (docs/filter-api.md, Limits). Arrays are allocated in whole MiB so
/// that requests of nearby sizes share them; over its bound the cache drops its smallest arrays, so that it ends up
/// holding the buffers the largest requests need. A rented array may be longer than asked and holds an earlier
/// request's data: its users track their own length.
/// </summary>
public sealed class LargeArrayCache(long maxBytes)
{
    /// <summary>The shared cache's bound: three 16 MiB arrays (body, samples in, samples out) and their rounding.</summary>
    public const long SharedMaxBytes = 52 * 1024 * 1024;

    private const int Granule = 1024 * 1024;

    private readonly List<Array> _cached = [];
    private long _cachedBytes;

    public static LargeArrayCache Shared { get; } = new(SharedMaxBytes);

    /// <summary>Bytes held between requests.</summary>
    public long CachedBytes
    {
        get
        {
            lock (_cached)
            {
                return _cachedBytes;
            }
        }
    }

    public T[] Rent<T>(int length)
    {
        lock (_cached)
        {
            var best = -1;
            for (var i = 0; i < _cached.Count; i++)
            {
                if (_cached[i] is T[] candidate && candidate.Length >= length && (best < 0 || candidate.Length < _cached[best].Length))
                {
                    best = i;
                }
            }

            if (best >= 0)
            {
                var array = (T[])_cached[best];
                _cached.RemoveAt(best);
                _cachedBytes -= BytesOf(array);
                return array;
            }
        }

        var elementsPerGranule = Granule / Unsafe.SizeOf<T>();
        var rounded = ((long)length + elementsPerGranule - 1) / elementsPerGranule * elementsPerGranule;
        return GC.AllocateUninitializedArray<T>((int)Math.Min(rounded, Array.MaxLength));
    }

    public void Return(Array array)
    {
        lock (_cached)
        {
            _cached.Add(array);
            _cachedBytes += BytesOf(array);
            while (_cachedBytes > maxBytes)
            {
                var smallest = 0;
                for (var i = 1; i < _cached.Count; i++)
                {
                    if (BytesOf(_cached[i]) < BytesOf(_cached[smallest]))
                    {
                        smallest = i;
                    }
                }

                _cachedBytes -= BytesOf(_cached[smallest]);
                _cached.RemoveAt(smallest);
            }
        }
    }

    private static long BytesOf(Array array) => Buffer.ByteLength(array);
}
