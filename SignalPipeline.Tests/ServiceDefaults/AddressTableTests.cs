using System.Threading.RateLimiting;
using Microsoft.Extensions.Hosting;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.ServiceDefaults;

/// <summary>
/// The bounded table behind every per-address limiter (docs/filter-api.md and docs/websocket-bridge.md, "Limits"):
/// addresses past its capacity share one limiter, and a held address's limiter leaves the table when it expires.
/// </summary>
public sealed class AddressTableTests
{
    private static PartitionedRateLimiter<string> OneTokenEach(AddressTable<string> table, TimeSpan refill)
        => table.CreateLimiter(_ => new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = 1,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = refill,
            QueueLimit = 0,
            AutoReplenishment = false,
        }));

    private static bool Take(PartitionedRateLimiter<string> limiter, string address)
    {
        using var lease = limiter.AttemptAcquire(address);
        return lease.IsAcquired;
    }

    [Fact]
    public void PastItsCapacityNewAddressesShareOneLimiterWhileHeldOnesKeepTheirOwn()
    {
        var table = new AddressTable<string>(2, "overflow");
        using var limiter = OneTokenEach(table, TimeSpan.FromHours(1));

        Assert.True(Take(limiter, "198.51.100.1"));
        Assert.True(Take(limiter, "198.51.100.2"));
        Assert.Equal(2, table.Count);

        // The table is full: the third address gets the shared limiter's one token, the fourth finds it taken.
        Assert.True(Take(limiter, "198.51.100.3"));
        Assert.False(Take(limiter, "198.51.100.4"));
        Assert.Equal(3, table.Count); // two addresses and the overflow limiter
        Assert.Equal(2, table.Overflowed);

        // A held address is still itself: its own token is spent, and nobody else's is.
        Assert.False(Take(limiter, "198.51.100.1"));
        Assert.Equal(2, table.Overflowed);
    }

    [Fact]
    public async Task AnIdleAddressLeavesTheTableAndItsPlaceIsAnotherAddresssAgain()
    {
        var table = new AddressTable<string>(1, "overflow");
        using var limiter = OneTokenEach(table, TimeSpan.FromMilliseconds(100));
        Assert.True(Take(limiter, "198.51.100.1"));

        // The partitioned limiter drops a limiter idle (bucket full) for 10 s; the table counts it out.
        await Poll.UntilAsync(() => table.Count == 0, TimeSpan.FromSeconds(60), () => $"the idle address to leave, {table.Count} held");

        Assert.True(Take(limiter, "198.51.100.2"));
        Assert.Equal(1, table.Count);
        Assert.Equal(0, table.Overflowed);
    }

    [Fact]
    public void DisposingTheLimiterEmptiesTheTable()
    {
        var table = new AddressTable<string>(10, "overflow");
        var limiter = OneTokenEach(table, TimeSpan.FromHours(1));
        Assert.True(Take(limiter, "198.51.100.1"));
        Assert.True(Take(limiter, "198.51.100.2"));

        limiter.Dispose();

        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void AnAddressWhoseOldLimiterIsDisposedAfterItsNewOneWasMadeStaysInTheTable()
    {
        // The partitioned limiter drops an idle limiter from its dictionary before disposing it, so a request between
        // the two makes the address's next limiter while the old one still lives.
        var table = new AddressTable<string>(1, "overflow");
        var old = table.Partition("198.51.100.1", _ => new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 }));
        var oldLimiter = old.Factory(old.PartitionKey);
        var next = table.Partition("198.51.100.1", _ => new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 }));
        using var nextLimiter = next.Factory(next.PartitionKey);

        oldLimiter.Dispose();

        Assert.Equal(1, table.Count);
        Assert.Equal("198.51.100.1", table.Partition("198.51.100.1", _ => throw new InvalidOperationException()).PartitionKey);
        Assert.Equal(0, table.Overflowed);
    }

    [Fact]
    public async Task ALimiterThatDoesNotRefillItselfIsRefilledThroughTheTable()
    {
        // AutoReplenishment off: the partitioned limiter's timer refills it, which the table's wrapper must pass on.
        var table = new AddressTable<string>(10, "overflow");
        using var limiter = OneTokenEach(table, TimeSpan.FromMilliseconds(50));
        Assert.True(Take(limiter, "198.51.100.1"));
        Assert.False(Take(limiter, "198.51.100.1"));

        await Poll.UntilAsync(() => Take(limiter, "198.51.100.1"), TimeSpan.FromSeconds(30), () => "a refilled token");
    }
}
