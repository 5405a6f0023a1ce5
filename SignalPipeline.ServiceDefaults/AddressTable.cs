using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The addresses a per-address <see cref="PartitionedRateLimiter{TResource}"/> keeps a limiter for, bounded. The
/// partitioned limiter creates a limiter the first time it meets a key and drops it once it has been idle (full) for
/// 10 s, so a client with many addresses (an IPv6 prefix shorter than /64, a botnet) could make it hold one per address
/// for as long as it keeps sending. Here each limiter is counted while it lives (<see cref="Count"/>, a gauge), and
/// once <c>capacity</c> are held an address not yet held shares one <c>overflow</c> limiter with every other such
/// address until entries expire (<see cref="Overflowed"/> counts those lookups: a limiter may look an address up more than once per request): memory stays bounded, the
/// addresses already known keep their own budget, and the newcomers are limited together.
/// </summary>
public sealed class AddressTable<TKey>(int capacity, TKey overflow) : IAddressTable where TKey : notnull
{
    // Limiters alive per key: the partitioned limiter may make a key's new limiter before it has disposed the old one.
    private readonly ConcurrentDictionary<TKey, int> _held = new();
    private int _count;
    private long _overflowed;

    public int Capacity { get; } = capacity;

    /// <summary>Addresses with a limiter now, the overflow one included.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Lookups answered with the shared overflow partition because the table was full.</summary>
    public long Overflowed => Interlocked.Read(ref _overflowed);

    /// <summary>
    /// <paramref name="key"/>'s partition while the table has room for it (or already holds it), else the shared
    /// overflow partition; <paramref name="create"/> makes a key's limiter when the partitioned limiter needs one.
    /// </summary>
    public RateLimitPartition<TKey> Partition(TKey key, Func<TKey, RateLimiter> create)
    {
        if (!_held.ContainsKey(key) && Count >= Capacity)
        {
            Interlocked.Increment(ref _overflowed);
            key = overflow;
        }

        return new RateLimitPartition<TKey>(key, k => new Counted(this, k, create(k)));
    }

    /// <summary>A partitioned limiter with a limiter per key of this table, made by <paramref name="create"/>.</summary>
    public PartitionedRateLimiter<TKey> CreateLimiter(Func<TKey, RateLimiter> create)
        => PartitionedRateLimiter.Create<TKey, TKey>(key => Partition(key, create));

    /// <summary>One of <paramref name="key"/>'s limiters is gone; the key leaves the table with its last one.</summary>
    private void Release(TKey key)
    {
        while (_held.TryGetValue(key, out var alive))
        {
            if (alive == 1 ? _held.TryRemove(KeyValuePair.Create(key, 1)) : _held.TryUpdate(key, alive - 1, alive))
            {
                if (alive == 1)
                {
                    Interlocked.Decrement(ref _count);
                }

                return;
            }
        }
    }

    /// <summary>A key's limiter, counted in the table from its creation to its disposal (the partitioned limiter disposes idle ones).</summary>
    private sealed class Counted : ReplenishingRateLimiter
    {
        private readonly AddressTable<TKey> _table;
        private readonly TKey _key;
        private readonly RateLimiter _inner;
        private int _disposed;

        public Counted(AddressTable<TKey> table, TKey key, RateLimiter inner)
        {
            _table = table;
            _key = key;
            _inner = inner;
            if (_table._held.AddOrUpdate(key, 1, (_, alive) => alive + 1) == 1)
            {
                Interlocked.Increment(ref _table._count);
            }
        }

        // The partitioned limiter refills limiters that do not refill themselves; forward that to the real one.
        public override bool IsAutoReplenishing => _inner is not ReplenishingRateLimiter replenishing || replenishing.IsAutoReplenishing;

        public override TimeSpan ReplenishmentPeriod => (_inner as ReplenishingRateLimiter)?.ReplenishmentPeriod ?? TimeSpan.Zero;

        public override TimeSpan? IdleDuration => _inner.IdleDuration;

        public override bool TryReplenish() => _inner is ReplenishingRateLimiter replenishing && replenishing.TryReplenish();

        public override RateLimiterStatistics? GetStatistics() => _inner.GetStatistics();

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => _inner.AttemptAcquire(permitCount);

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
            => _inner.AcquireAsync(permitCount, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                _table.Release(_key);
                _inner.Dispose();
            }
        }

        protected override ValueTask DisposeAsyncCore()
        {
            Dispose(true);
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>What the instruments read of an <see cref="AddressTable{TKey}"/>.</summary>
public interface IAddressTable
{
    int Count { get; }

    long Overflowed { get; }
}

/// <summary>
/// A service's address tables on its meter, by a <c>table</c> tag: <c>{prefix}.addresses.tracked</c> (gauge, limiters
/// held) and <c>{prefix}.addresses.overflowed</c> (counter, lookups of addresses not held while the table was full).
/// </summary>
public sealed class AddressTableInstruments
{
    private readonly List<(string Table, IAddressTable Addresses)> _tables = [];

    public AddressTableInstruments(Meter meter, string prefix, string setting)
    {
        meter.CreateObservableGauge($"{prefix}.addresses.tracked", () => Observe(t => t.Count), "{address}",
            $"Client addresses with a limiter of their own, by table; at most {setting} each.");
        meter.CreateObservableCounter($"{prefix}.addresses.overflowed", () => Observe(t => t.Overflowed), "{lookup}",
            $"Lookups of an address not held while its table already held {setting} (it was limited in the shared limiter), by table.");
    }

    /// <summary>Observes <paramref name="addresses"/> as <paramref name="table"/>; returns it.</summary>
    public T Add<T>(string table, T addresses) where T : IAddressTable
    {
        lock (_tables)
        {
            _tables.Add((table, addresses));
        }

        return addresses;
    }

    private List<Measurement<long>> Observe(Func<IAddressTable, long> read)
    {
        lock (_tables)
        {
            return [.. _tables.Select(t => new Measurement<long>(read(t.Addresses), new KeyValuePair<string, object?>("table", t.Table)))];
        }
    }
}
