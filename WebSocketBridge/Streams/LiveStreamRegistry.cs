using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace WebSocketBridge.Streams;

/// <summary>The streams seen recently, by id.</summary>
public sealed class LiveStreamRegistry
{
    private readonly ConcurrentDictionary<string, LiveStream> _streams = new(StringComparer.Ordinal);
    private readonly IOptions<BridgeOptions> _options;
    private readonly TimeProvider _time;

    public LiveStreamRegistry(IOptions<BridgeOptions> options, TimeProvider time, BridgeMetrics? metrics = null)
    {
        _options = options;
        _time = time;
        Pending = new PendingBudget(options.Value.MaxPendingSamples);
        Retained = new PendingBudget(options.Value.MaxPendingSamples);
        metrics?.ObserveStreamBuffers(() => Pending.Held, () => Retained.Held);
    }

    /// <summary>Samples pending in all streams together (<see cref="BridgeOptions.MaxPendingSamples"/>).</summary>
    public PendingBudget Pending { get; }

    /// <summary>
    /// Buffer room all streams keep between frames beyond <see cref="LiveStream.InitialCapacity"/> each, in samples (at
    /// most <see cref="BridgeOptions.MaxPendingSamples"/>).
    /// </summary>
    public PendingBudget Retained { get; }

    /// <summary>The stream, added if new; null when <see cref="BridgeOptions.MaxStreams"/> are already held (the chunk is skipped).</summary>
    public LiveStream? GetOrAdd(string streamId)
    {
        if (_streams.TryGetValue(streamId, out var stream))
        {
            return stream;
        }

        // Only the Kafka loop adds streams, so the count cannot race past the limit by more than nothing.
        return _streams.Count >= _options.Value.MaxStreams
            ? null
            : _streams.GetOrAdd(streamId, id => new LiveStream(id, _options.Value.MaxPendingSamplesPerStream, Pending, Retained));
    }

    /// <summary>
    /// Adds one filtered chunk to its stream (added if new), as the Kafka loop does; returns the pending samples it pushed
    /// out (<see cref="LiveStream.Append"/>), or null when the stream is refused (<see cref="BridgeOptions.MaxStreams"/>).
    /// </summary>
    public long? Append(string streamId, long seq, string algorithm, ReadOnlySpan<double> raw, ReadOnlySpan<double> filtered,
        long timestampMs, long processedMs, long receivedMs)
        => Append(GetOrAdd(streamId), seq, algorithm, raw, filtered, timestampMs, processedMs, receivedMs);

    /// <summary>
    /// <see cref="Append(string, long, string, ReadOnlySpan{double}, ReadOnlySpan{double}, long, long, long)"/> to
    /// <paramref name="stream"/> as looked up earlier: the frame pump may have forgotten it since (<see cref="RemoveSilent"/>),
    /// and then the chunk goes to the stream looked up again (added anew).
    /// </summary>
    internal long? Append(LiveStream? stream, long seq, string algorithm, ReadOnlySpan<double> raw, ReadOnlySpan<double> filtered,
        long timestampMs, long processedMs, long receivedMs)
    {
        while (stream is not null)
        {
            if (stream.Append(seq, algorithm, raw, filtered, timestampMs, processedMs, receivedMs) is { } overflowed)
            {
                return overflowed;
            }

            // Forgotten: RemoveSilent takes it out of the table right after; taking it out here too spares the wait.
            _streams.TryRemove(new KeyValuePair<string, LiveStream>(stream.StreamId, stream));
            stream = GetOrAdd(stream.StreamId);
        }

        return null;
    }

    public int Count => _streams.Count;

    /// <summary>Every stream's new data since the last call.</summary>
    public StreamFrame[] TakeFrames()
    {
        List<StreamFrame>? frames = null;
        foreach (var (_, stream) in _streams)
        {
            if (stream.TakeFrame() is { } frame)
            {
                (frames ??= []).Add(frame);
            }
        }

        return frames is null ? [] : [.. frames];
    }

    /// <summary>Forgets streams silent for longer than <see cref="BridgeOptions.StreamTtlSeconds"/>.</summary>
    public void RemoveSilent()
    {
        var cutoff = _time.GetUtcNow().ToUnixTimeMilliseconds() - _options.Value.StreamTtlSeconds * 1000L;
        foreach (var (id, stream) in _streams)
        {
            // Forgotten first, then removed: the Kafka loop may still hold it from a lookup, and its append is refused and
            // looks again, rather than putting samples into a stream nothing takes frames from.
            if (stream.LastSeenMs < cutoff && stream.ForgetIfSilentSince(cutoff))
            {
                _streams.TryRemove(new KeyValuePair<string, LiveStream>(id, stream));
            }
        }
    }

    public IReadOnlyList<StreamSummary> Summaries()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return [.. _streams.Values.Select(s => s.Snapshot(now)).OrderBy(s => s.StreamId, StringComparer.Ordinal)];
    }

    /// <summary>How long one answer of <c>GET /streams</c> is served to everyone.</summary>
    public const int SummariesCacheMilliseconds = 500;

    private sealed record CachedJson(long AtMs, byte[] Json);

    private CachedJson? _summaries;
    private readonly Lock _writingSummaries = new();

    /// <summary>
    /// <c>GET /streams</c> as UTF-8 JSON, written at most once per <see cref="SummariesCacheMilliseconds"/>: each page polls
    /// it every 2 s, and with many pages and thousands of streams a snapshot, sort and serialization per call would take
    /// the bridge's CPU.
    /// </summary>
    public byte[] SummariesJson(System.Text.Json.JsonSerializerOptions json)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (Fresh(Volatile.Read(ref _summaries), now) is { } cached)
        {
            return cached;
        }

        lock (_writingSummaries)
        {
            if (Fresh(_summaries, now) is { } again)
            {
                return again;
            }

            var bytes = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(Summaries(), json);
            Volatile.Write(ref _summaries, new CachedJson(now, bytes));
            return bytes;
        }

        static byte[]? Fresh(CachedJson? cached, long now)
            => cached is not null && now >= cached.AtMs && now - cached.AtMs < SummariesCacheMilliseconds ? cached.Json : null;
    }
}
