using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using WebSocketBridge.Streams;

namespace WebSocketBridge.Clients;

/// <summary>The connected clients, and the connection limit.</summary>
public sealed class ClientRegistry(IOptions<BridgeOptions> options)
{
    private readonly ConcurrentDictionary<long, ClientConnection> _clients = new();
    private long _nextId;
    private int _reserved;

    public int Count => _clients.Count;

    /// <summary>Takes one of the <see cref="BridgeOptions.MaxConnections"/> slots; false when none is left.</summary>
    public bool TryReserve()
    {
        if (Interlocked.Increment(ref _reserved) > options.Value.MaxConnections)
        {
            Interlocked.Decrement(ref _reserved);
            return false;
        }

        return true;
    }

    public void Release() => Interlocked.Decrement(ref _reserved);

    public long NextId() => Interlocked.Increment(ref _nextId);

    public void Add(ClientConnection client) => _clients[client.Id] = client;

    public void Remove(ClientConnection client) => _clients.TryRemove(client.Id, out _);

    /// <summary>Offers <paramref name="tick"/> to every client; returns at once whatever the clients do.</summary>
    public void Broadcast(FrameTick tick)
    {
        foreach (var (_, client) in _clients)
        {
            client.Offer(tick);
        }
    }

    public IReadOnlyList<ClientSummary> Summaries() => [.. _clients.Values.Select(c => c.Snapshot()).OrderBy(c => c.Id)];
}
