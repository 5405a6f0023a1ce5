using System.Buffers;
using System.Runtime.CompilerServices;

namespace FilterService;

/// <summary>
/// Where request buffers come from. Up to 2 MiB (every processor request) from the shared pool; larger ones are
/// allocated and left to the GC. The shared pool keeps up to several arrays per size per core: for the 16-32 MiB
/// buffers of large requests that retention alone exceeded a 512Mi pod's heap under load (measured with the bench's
/// abuse scenario: OutOfMemoryException at a 384 MiB heap cap), while a collected array costs only its allocation.
/// </summary>
internal static class RequestArrays
{
    private const long PooledMaxBytes = 2 * 1024 * 1024;

    public static T[] Rent<T>(int length)
        => (long)length * Unsafe.SizeOf<T>() <= PooledMaxBytes ? ArrayPool<T>.Shared.Rent(length) : GC.AllocateUninitializedArray<T>(length);

    public static void Return<T>(T[] array)
    {
        // Pooled arrays are at most PooledMaxBytes; anything larger was allocated here and goes to the GC.
        if ((long)array.Length * Unsafe.SizeOf<T>() <= PooledMaxBytes && array.Length > 0)
        {
            ArrayPool<T>.Shared.Return(array);
        }
    }
}
