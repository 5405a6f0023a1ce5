using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SignalPipeline.Tests.Infrastructure;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary><see cref="LargeBlockMemoryPool"/>: its blocks, their reuse within a bound, and Kestrel receiving into them.</summary>
public sealed class LargeBlockMemoryPoolTests
{
    [Fact]
    public void BlocksAreReusedAndAtMostRetainedBlocksAreKeptFree()
    {
        // A meter of its own: the services of other tests receive into pools of the shared one meanwhile.
        using var meter = new Meter($"{LargeBlockMemoryPool.MeterName}.{Guid.NewGuid():N}");
        using var metrics = new MeasurementRecorder(meter.Name);
        using var pool = new LargeBlockMemoryPool(16 * 1024, meter);
        var first = pool.Rent();
        Assert.Equal(16 * 1024, first.Memory.Length);
        var array = first.Memory;
        first.Dispose();
        first.Dispose(); // a second dispose returns nothing twice
        Assert.Equal(1, pool.Free);
        using (var again = pool.Rent(100))
        {
            Assert.True(again.Memory.Span == array.Span, "a returned block is handed out again");
        }

        var leases = Enumerable.Range(0, LargeBlockMemoryPool.RetainedBlocks + 10).Select(_ => pool.Rent()).ToList();
        Assert.Equal((LargeBlockMemoryPool.RetainedBlocks + 10) * 16 * 1024, pool.InUseBytes);
        Assert.Equal(pool.InUseBytes, metrics.Sum("signalpipeline.kestrel.memory.in_use"));
        leases.ForEach(l => l.Dispose());
        Assert.Equal(LargeBlockMemoryPool.RetainedBlocks, pool.Free);
        Assert.Equal(0, pool.InUseBytes);
        Assert.Equal(0, metrics.Sum("signalpipeline.kestrel.memory.in_use"));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(16 * 1024 + 1));

        // The first block, then one for each lease beyond the one free block; 10 dropped past the bound; the rest kept.
        Assert.Equal((LargeBlockMemoryPool.RetainedBlocks + 10) * 16 * 1024, metrics.Sum("signalpipeline.kestrel.memory.allocated"));
        Assert.Equal(10 * 16 * 1024, metrics.Sum("signalpipeline.kestrel.memory.dropped"));
        Assert.Equal(LargeBlockMemoryPool.RetainedBlocks * 16 * 1024, metrics.Sum("signalpipeline.kestrel.memory.pooled"));
    }

    [Fact]
    public async Task TheServiceReceivesIntoTheLargeBlocksAndAnswersBitIdentically()
    {
        await using var service = await FilterServiceLimitsTests.StartServiceAsync();
        using var client = service.CreateClient();
        var signal = TestSignal(128 * 1024, seed: 3); // 1 MiB of float64

        var (filtered, _) = await RunBinaryAsync(client, "kalman", signal);

        AssertBitIdentical(Reference("kalman", signal), filtered);
        var factory = Assert.IsType<LargeBlockMemoryPool.Factory>(service.App.Services.GetRequiredService<IMemoryPoolFactory<byte>>());
        Assert.All(factory.Pools, pool => Assert.Equal(LargeBlockMemoryPool.DefaultBlockSize, pool.MaxBufferSize));
        Assert.True(factory.Pools.Sum(pool => pool.Rented) > 0, "Kestrel's transport did not use the pool");
    }
}
