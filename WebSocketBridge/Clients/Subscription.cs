using System.Collections.Frozen;

namespace WebSocketBridge.Clients;

/// <summary>An immutable set of stream ids, or all streams.</summary>
internal sealed record Subscription(FrozenSet<string> Streams, bool All)
{
    public static readonly Subscription None = new(FrozenSet<string>.Empty, false);

    public bool IsEmpty => !All && Streams.Count == 0;

    public bool Includes(string streamId) => All || Streams.Contains(streamId);

    public Subscription Add(IReadOnlyList<string> streams)
        => All || streams.Contains(ClientCommand.AllStreams)
            ? new Subscription(FrozenSet<string>.Empty, true)
            : new Subscription(Streams.Union(streams).ToFrozenSet(StringComparer.Ordinal), false);

    // Removing one stream while subscribed to "*" leaves "*" in place: unsubscribe "*" first.
    public Subscription Remove(IReadOnlyList<string> streams)
        => streams.Contains(ClientCommand.AllStreams)
            ? None
            : new Subscription(Streams.Except(streams).ToFrozenSet(StringComparer.Ordinal), All);
}
