using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Kestrel's buffers in larger blocks than its own pool's 4 KiB, for the services whose requests carry up to 16 MiB:
/// the socket transport receives into one block at a time, so a 16 MiB body takes 4,096 receive calls (and as many
/// wake-ups) with 4 KiB blocks and 1,024 with 16 KiB ones. Measured on the gateway forwarding 16 MiB bodies: about a fifth
/// less CPU per body, the service's share likewise (docs/benchmarks.md, "Kestrel's receive blocks"). An idle connection
/// holds no block (the transport waits for data before it rents one); one that sent a few bytes holds one block, 16 KiB
/// instead of 4. At most <see cref="RetainedBlocks"/> free blocks are kept for reuse, the rest are left to the GC.
/// </summary>
public sealed class LargeBlockMemoryPool(int blockSize, Meter meter) : MemoryPool<byte>
{
    public const int DefaultBlockSize = 16 * 1024;

    /// <summary>Free blocks kept for reuse (4 MiB of 16 KiB blocks); a block returned past it is dropped.</summary>
    public const int RetainedBlocks = 256;

    /// <summary>The meter of the receive blocks (as Kestrel's own pool counts in <c>aspnetcore.memory_pool.*</c>).</summary>
    public const string MeterName = "SignalPipeline.Kestrel";

    private readonly Counter<long> _allocated = meter.CreateCounter<long>("signalpipeline.kestrel.memory.allocated", "By",
        "Bytes of receive blocks allocated because none was free.");
    private readonly UpDownCounter<long> _pooled = meter.CreateUpDownCounter<long>("signalpipeline.kestrel.memory.pooled", "By",
        "Bytes of free receive blocks kept for reuse (at most RetainedBlocks blocks).");
    private readonly Counter<long> _dropped = meter.CreateCounter<long>("signalpipeline.kestrel.memory.dropped", "By",
        "Bytes of receive blocks returned past the bound of free blocks and left to the GC.");
    private readonly UpDownCounter<long> _inUse = meter.CreateUpDownCounter<long>("signalpipeline.kestrel.memory.in_use", "By",
        "Bytes of blocks held by connections now: what they received and the app has not consumed yet, and answers not sent yet.");

    private readonly ConcurrentQueue<byte[]> _free = new();
    private int _freeCount;
    private long _rented;
    private long _inUseBytes;

    public override int MaxBufferSize => blockSize;

    /// <summary>Blocks handed out so far (a test's way to see that Kestrel uses this pool).</summary>
    public long Rented => Interlocked.Read(ref _rented);

    /// <summary>Bytes of blocks rented and not returned yet.</summary>
    public long InUseBytes => Interlocked.Read(ref _inUseBytes);

    /// <summary>Free blocks held for reuse now.</summary>
    public int Free => Volatile.Read(ref _freeCount);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, blockSize);
        Interlocked.Increment(ref _rented);
        Interlocked.Add(ref _inUseBytes, blockSize);
        _inUse.Add(blockSize);
        if (_free.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _freeCount);
            _pooled.Add(-blockSize);
        }
        else
        {
            // On the pinned heap: the transport hands the block to the kernel, and it never moves.
            block = GC.AllocateUninitializedArray<byte>(blockSize, pinned: true);
            _allocated.Add(blockSize);
        }

        return new Lease(this, block);
    }

    protected override void Dispose(bool disposing)
    {
    }

    private void Return(byte[] block)
    {
        Interlocked.Add(ref _inUseBytes, -blockSize);
        _inUse.Add(-blockSize);
        if (Interlocked.Increment(ref _freeCount) <= RetainedBlocks)
        {
            _free.Enqueue(block);
            _pooled.Add(blockSize);
        }
        else
        {
            Interlocked.Decrement(ref _freeCount);
            _dropped.Add(blockSize);
        }
    }

    private sealed class Lease(LargeBlockMemoryPool pool, byte[] block) : IMemoryOwner<byte>
    {
        private byte[]? _block = block;

        public Memory<byte> Memory => _block ?? throw new ObjectDisposedException(nameof(Lease));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _block, null) is { } returned)
            {
                pool.Return(returned);
            }
        }
    }

    /// <summary>What Kestrel's socket transport asks for its pools; registered after Kestrel's own, so it is the one resolved.</summary>
    public sealed class Factory(int blockSize) : IMemoryPoolFactory<byte>
    {
        private static readonly Meter s_meter = new(MeterName);
        private readonly ConcurrentQueue<LargeBlockMemoryPool> _pools = new();

        /// <summary>The pools made so far (one per transport listener).</summary>
        public IReadOnlyCollection<LargeBlockMemoryPool> Pools => _pools;

        public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
        {
            var pool = new LargeBlockMemoryPool(blockSize, s_meter);
            _pools.Enqueue(pool);
            return pool;
        }
    }
}

public static class LargeBlockMemoryPoolExtensions
{
    /// <summary>Kestrel receives into <paramref name="blockSize"/>-byte blocks (<see cref="LargeBlockMemoryPool"/>).</summary>
    public static IServiceCollection AddLargeKestrelBlocks(this IServiceCollection services, int blockSize = LargeBlockMemoryPool.DefaultBlockSize)
        => services.AddSingleton<IMemoryPoolFactory<byte>>(new LargeBlockMemoryPool.Factory(blockSize));
}
