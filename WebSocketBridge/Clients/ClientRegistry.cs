using System.Collections.Concurrent;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using WebSocketBridge.Streams;

namespace WebSocketBridge.Clients;

/// <summary>Why a connection could not be reserved.</summary>
public enum ReserveResult
{
    Reserved,
    TooManyConnections,
    TooManyFromAddress,
    ConnectingTooOften,
}

/// <summary>The connected clients, the connection limit, the per-address limit and the per-address connect rate.</summary>
public sealed class ClientRegistry(IOptions<BridgeOptions> options, BridgeMetrics metrics, HeldFrames held, TimeProvider time) : IDisposable
{
    /// <summary>A client sending one message for longer than this while the held beats are over budget is disconnected.</summary>
    public const int StalledSendMilliseconds = 1000;

    private readonly ConcurrentDictionary<long, ClientConnection> _clients = new();

    // A token bucket per address, as deep as the address's connection slots and refilled at Bridge:ConnectsPerAddressPerMinute:
    // a page (or a few tabs behind one NAT) connects at once, while a script that reconnects in a loop (measured with
    // the bench's subscription flood: ~800 upgrades a second cost the bridge most of a CPU) is answered 429 for almost nothing.
    // At most Bridge:MaxTrackedAddresses addresses have a bucket of their own; past it, new ones share one.
    private readonly PartitionedRateLimiter<IPAddress> _connects = metrics.Addresses
        .Add("connects", new AddressTable<IPAddress>(options.Value.MaxTrackedAddresses, IPAddress.Broadcast))
        .CreateLimiter(_ => new TokenBucket(options.Value.MaxConnectionsPerAddress, 1,
            TimeSpan.FromMinutes(1) / options.Value.ConnectsPerAddressPerMinute, time));
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private long _nextId;
    private int _reserved;

    public int Count => _clients.Count;

    /// <summary>
    /// Takes one of <paramref name="address"/>'s <see cref="BridgeOptions.MaxConnectionsPerAddress"/> and one of the
    /// <see cref="BridgeOptions.MaxConnections"/> slots; give both back with <see cref="Release"/>. The address's count is
    /// checked first: an address that holds all its connections is told so, whatever its connect rate, and that refusal takes
    /// no connect token (closing one connection and connecting again is then not refused for the rate). Every other attempt
    /// takes a token of the address's <see cref="BridgeOptions.ConnectsPerAddressPerMinute"/>, refused or not.
    /// </summary>
    public ReserveResult TryReserve(IPAddress? address)
    {
        var key = ClientAddress.Of(address);
        lock (_perAddress)
        {
            // Under the lock, so that two upgrades cannot both pass the count; the limiter's own work is a lookup.
            var count = _perAddress.GetValueOrDefault(key);
            if (count >= options.Value.MaxConnectionsPerAddress)
            {
                return ReserveResult.TooManyFromAddress;
            }

            using (var token = _connects.AttemptAcquire(key))
            {
                if (!token.IsAcquired)
                {
                    return ReserveResult.ConnectingTooOften;
                }
            }

            if (Interlocked.Increment(ref _reserved) > options.Value.MaxConnections)
            {
                Interlocked.Decrement(ref _reserved);
                return ReserveResult.TooManyConnections;
            }

            _perAddress[key] = count + 1;
        }

        return ReserveResult.Reserved;
    }

    public void Release(IPAddress? address)
    {
        var key = ClientAddress.Of(address);
        lock (_perAddress)
        {
            if (_perAddress.TryGetValue(key, out var count))
            {
                if (count <= 1)
                {
                    _perAddress.Remove(key);
                }
                else
                {
                    _perAddress[key] = count - 1;
                }
            }
        }

        Interlocked.Decrement(ref _reserved);
    }

    public long NextId() => Interlocked.Increment(ref _nextId);

    public void Dispose() => _connects.Dispose();

    public void Add(ClientConnection client) => _clients[client.Id] = client;

    public void Remove(ClientConnection client) => _clients.TryRemove(client.Id, out _);

    /// <summary>
    /// Offers <paramref name="tick"/> to every client; returns at once whatever the clients do. While the beats clients
    /// hold are over Bridge:MaxHeldFrameBytes, only the clients that keep up get it, and the clients stalled in one send
    /// for over <see cref="StalledSendMilliseconds"/> are disconnected: they hold beats nobody else needs.
    /// </summary>
    public void Broadcast(FrameTick tick)
    {
        var over = held.IsOver;
        foreach (var (_, client) in _clients)
        {
            client.Offer(tick, onlyIfKeepingUp: over);
        }

        if (over)
        {
            var stalledSince = tick.CreatedMs - StalledSendMilliseconds;
            foreach (var (_, client) in _clients)
            {
                client.AbortIfSendingSince(stalledSince);
            }
        }
    }

    /// <summary><c>GET /clients</c>: counts, and each client only when <see cref="BridgeOptions.ListClients"/> is on.</summary>
    public ClientListing Listing()
    {
        // The counts need no client's stream list; those are built (and sorted) only when listed.
        var clients = _clients.Values.ToList();
        var listed = options.Value.ListClients ? clients.Select(c => c.Snapshot()).OrderBy(c => c.Id).ToList() : null;
        return new ClientListing(clients.Count, clients.Count(c => c.Subscribed), clients.Count(c => c.Paused), clients.Sum(c => c.Dropped), listed);
    }
}

/// <summary>
/// The answer of <c>GET /clients</c>: how many clients, subscribed, paused, the frames dropped for the connected clients
/// in total; <see cref="Clients"/> is null (left out) unless Bridge:ListClients is on.
/// </summary>
public sealed record ClientListing(int Count, int Subscribed, int Paused, long Dropped,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    IReadOnlyList<ClientSummary>? Clients);
