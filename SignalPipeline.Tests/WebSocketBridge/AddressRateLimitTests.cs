using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SignalPipeline.Tests.FilterKafkaProcessor;
using WebSocketBridge;
using WebSocketBridge.Clients;
using WebSocketBridge.FilterState;
using WebSocketBridge.Streams;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The bridge's per-address rates hold their documented bursts exactly after a quiet spell (docs/websocket-bridge.md,
/// Settings): the burst, then the rate, never the burst again at once. Before, .NET's TokenBucketRateLimiter, refilled by
/// the partitioned limiter's timer, credited the time it had spent full once emptied: an address that used its burst,
/// was quiet for 12 s (its bucket full again after 8 s and not yet dropped, which the partitioned limiter does 10 s after
/// that) and connected again got 16 connects and then 8 more within 0.3 s (real time, the old code). Each test here
/// empties the bucket, waits a quiet spell shorter than that refill plus 10 s, and then counts; a fake clock makes each
/// step exact.
/// </summary>
public sealed class AddressRateLimitTests
{
    private static readonly IPAddress Client = IPAddress.Parse("198.51.100.7");
    private static readonly TimeSpan QuietSpell = TimeSpan.FromSeconds(12);

    [Fact]
    public void A_token_bucket_gives_exactly_its_burst_after_a_quiet_spell_then_its_rate()
    {
        var time = NewClock();
        using var bucket = new TokenBucket(16, 1, TimeSpan.FromMilliseconds(500), time);
        Assert.Equal(16, Taken(() => bucket.AttemptAcquire().IsAcquired));
        time.Advance(QuietSpell);

        Assert.Equal(16, Taken(() => bucket.AttemptAcquire().IsAcquired));
        time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.Equal(0, Taken(() => bucket.AttemptAcquire().IsAcquired));
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, Taken(() => bucket.AttemptAcquire().IsAcquired));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(4, Taken(() => bucket.AttemptAcquire().IsAcquired));
    }

    [Fact]
    public void A_token_bucket_is_idle_from_when_it_is_full_again()
    {
        var time = NewClock();
        using var bucket = new TokenBucket(2, 1, TimeSpan.FromSeconds(1), time);
        Assert.NotNull(bucket.IdleDuration);
        Assert.Equal(2, Taken(() => bucket.AttemptAcquire().IsAcquired));
        Assert.Null(bucket.IdleDuration);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(bucket.IdleDuration);
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(TimeSpan.FromSeconds(4), bucket.IdleDuration);
    }

    [Fact]
    public void After_a_quiet_spell_an_address_connects_16_times_at_once_then_once_every_half_second()
    {
        var time = NewClock();
        using var meters = new TestMeterFactory();
        using var registry = new ClientRegistry(Options.Create(new BridgeOptions()), new BridgeMetrics(meters),
            new HeldFrames(BridgeOptions.DefaultMaxHeldFrameBytes), time);
        bool Connect()
        {
            var result = registry.TryReserve(Client);
            if (result == ReserveResult.Reserved)
            {
                registry.Release(Client);
            }

            return result == ReserveResult.Reserved;
        }

        Assert.Equal(16, Taken(Connect));
        time.Advance(QuietSpell);

        Assert.Equal(16, Taken(Connect));
        time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.Equal(0, Taken(Connect));
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, Taken(Connect));
    }

    [Fact]
    public async Task After_a_quiet_spell_an_address_makes_40_requests_at_once_then_20_each_second()
    {
        var time = NewClock();
        using var meters = new TestMeterFactory();
        using var budget = new RequestBudget(Options.Create(new BridgeOptions()), new BridgeMetrics(meters), time);
        using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        var served = 0;
        async Task<bool> Request()
        {
            var before = served;
            var context = new DefaultHttpContext { Connection = { RemoteIpAddress = Client }, RequestServices = services };
            context.Response.Body = Stream.Null;
            // A refusal is held a second of real time (Task.Delay), so each step below ends with one.
            await budget.InvokeAsync(context, _ => { served++; return Task.CompletedTask; }).WaitAsync(TimeSpan.FromSeconds(30));
            return served > before;
        }

        // Full again 2 s after emptied; 5 s quiet keeps it within the partitioned limiter's 10 s.
        Assert.Equal(40, await TakenAsync(Request));
        time.Advance(TimeSpan.FromSeconds(5));

        // 20 tokens each second (Bridge:RequestsPerAddressPerSecond); before, 40 more came 0.2 s after the first 40.
        Assert.Equal(40, await TakenAsync(Request));
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(0, await TakenAsync(Request));
        time.Advance(TimeSpan.FromMilliseconds(800));
        Assert.Equal(20, await TakenAsync(Request));
    }

    [Fact]
    public void After_a_quiet_spell_an_address_asks_for_filter_state_100_times_at_once_then_10_a_second()
    {
        var time = NewClock();
        using var meters = new TestMeterFactory();
        using var rate = new FilterStateRateLimit(Options.Create(new FilterStateOptions()), Options.Create(new BridgeOptions()),
            new BridgeMetrics(meters), time);
        Assert.Equal(100, Taken(() => rate.TryTake(Client)));
        time.Advance(QuietSpell);

        Assert.Equal(100, Taken(() => rate.TryTake(Client)));
        time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.Equal(0, Taken(() => rate.TryTake(Client)));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, Taken(() => rate.TryTake(Client)));
    }

    private static FakeTimeProvider NewClock() => new(DateTimeOffset.UnixEpoch.AddDays(20_000));

    /// <summary>How many times in a row <paramref name="take"/> succeeds at this instant (at most 1000).</summary>
    private static int Taken(Func<bool> take)
    {
        var count = 0;
        while (count < 1000 && take())
        {
            count++;
        }

        return count;
    }

    private static async Task<int> TakenAsync(Func<Task<bool>> take)
    {
        var count = 0;
        while (count < 1000 && await take())
        {
            count++;
        }

        return count;
    }
}
