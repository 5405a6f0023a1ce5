using FilterService;
using Microsoft.AspNetCore.Builder;
using SignalPipeline.Tests.FilterGateway;
using static SignalPipeline.Tests.FilterService.FilterApi;

namespace SignalPipeline.Tests.FilterService;

/// <summary>
/// <see cref="LargeArrayCache"/>: the buffers of large requests are reused instead of allocated anew on the large object
/// heap (docs/benchmarks.md, Abuse: the gen2 collections that followed paused the small requests), within a bound.
/// </summary>
public sealed class LargeArrayCacheTests
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public void AReturnedArrayIsRentedAgainForANearbySize()
    {
        var cache = new LargeArrayCache(64L * MiB);

        var first = cache.Rent<double>(2 * MiB);
        cache.Return(first);
        var again = cache.Rent<double>(2 * MiB - 1000);

        Assert.Same(first, again);
        Assert.Equal(0, cache.CachedBytes);
    }

    [Fact]
    public void ArraysAreAllocatedInWholeMiBAndOnlyForTheirOwnElementType()
    {
        var cache = new LargeArrayCache(64L * MiB);

        var bytes = cache.Rent<byte>(16 * MiB + 1);
        Assert.Equal(17 * MiB, bytes.Length);
        cache.Return(bytes);

        var doubles = cache.Rent<double>(1000);
        Assert.Equal(MiB / sizeof(double), doubles.Length);
        Assert.Equal(17L * MiB, cache.CachedBytes);
    }

    [Fact]
    public void TheCacheNeverHoldsMoreThanItsBoundAndKeepsTheLargestArrays()
    {
        var cache = new LargeArrayCache(40L * MiB);
        var arrays = new[] { 4, 16, 8, 16, 16 }.Select(mib => cache.Rent<byte>(mib * MiB)).ToArray();

        foreach (var array in arrays)
        {
            cache.Return(array);
            Assert.True(cache.CachedBytes <= 40L * MiB, $"the cache holds {cache.CachedBytes} bytes, over its bound");
        }

        Assert.Equal(32L * MiB, cache.CachedBytes);
        Assert.Equal(16 * MiB, cache.Rent<byte>(MiB).Length);
        Assert.Equal(16 * MiB, cache.Rent<byte>(MiB).Length);
        Assert.Equal(0, cache.CachedBytes);
    }

    [Fact]
    public async Task LargeRequestsReusingBuffersOfEarlierOnesGetTheirOwnAnswers()
    {
        await using var service = await InProcessHost.StartAsync(new Dictionary<string, string?>(),
            builder => builder.AddFilterService(), app => app.MapFilterService());
        using var client = service.CreateClient();
        // Over 2 MiB each, so from the cache; the second and third are shorter than the first and get its longer,
        // used buffers: only their own samples may count.
        var signals = new[] { TestSignal(600_000, seed: 31), TestSignal(300_000, seed: 32), TestSignal(400_000, seed: 33) };

        foreach (var signal in signals)
        {
            var (filtered, _) = await RunBinaryAsync(client, "kalman", signal);
            AssertBitIdentical(Reference("kalman", signal), filtered);
        }

        // And a small request afterwards is served as before.
        var small = TestSignal(100, seed: 34);
        var (smallFiltered, _) = await RunAsync(client, "kalman", small);
        AssertBitIdentical(Reference("kalman", small), smallFiltered);
    }
}
