using System.Collections.Concurrent;
using SignalPipeline.Filters;

namespace FilterKafkaProcessor.Config;

/// <summary>
/// The latest stream-config record of a stream: its config, or why it was refused. <paramref name="Offset"/> identifies
/// it (a stream's records all land in one partition of the config topic, keyed by its id): a stream's checkpoint
/// records the offset it last acted on, so a record is applied or refused once.
/// </summary>
public sealed record StreamConfigEntry(string StreamId, int Partition, long Offset, StreamFilterConfig? Config, string? Error, byte[] Value);

/// <summary>
/// Every stream's latest config as read from the compacted stream-config topic (a global table: every instance reads
/// all of it, so a stream's config is known wherever its partition moves). Written by one
/// <see cref="StreamConfigReader"/>, read by the stream thread and the HTTP endpoints.
/// </summary>
public sealed class StreamConfigTable(StreamFilterConfig defaults)
{
    /// <summary>Largest entry value taken (a config is about 100 bytes): every instance holds every entry, so a larger one is refused and not kept.</summary>
    public const int MaxEntryBytes = StreamFilterConfig.MaxRecordBytes;

    /// <summary>Largest key (stream id) taken: the codec's limit for a stream id; a longer one could never match a chunk.</summary>
    public static int MaxStreamIdBytes => SignalPipeline.Messages.DecodeLimits.Default.MaxStreamIdBytes;

    private readonly ConcurrentDictionary<string, StreamConfigEntry> _entries = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _refused;

    /// <summary>The deployment's <c>FILTER_ALGORITHM</c> and <c>Filter:Params</c>: the config of streams without an entry.</summary>
    public StreamFilterConfig Default { get; } = defaults;

    public int Count => _entries.Count;

    /// <summary>Records read that were refused (each instance counts them; only the stream's owner dead-letters them).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>True once the topic was read to its end as of the reader's start.</summary>
    public bool IsCaughtUp => _caughtUp.Task.IsCompleted;

    public Task CaughtUp => _caughtUp.Task;

    public IEnumerable<StreamConfigEntry> Entries => _entries.Values;

    public StreamConfigEntry? Find(string streamId) => _entries.Count == 0 ? null : _entries.GetValueOrDefault(streamId);

    /// <summary>Takes one record: a value sets the stream's entry (valid or refused), a tombstone removes it.</summary>
    public StreamConfigEntry? Apply(string streamId, int partition, long offset, byte[]? value)
    {
        if (value is null)
        {
            _entries.TryRemove(streamId, out _);
            return null;
        }

        StreamConfigEntry entry;
        if (value.Length > MaxEntryBytes)
        {
            Interlocked.Increment(ref _refused);
            entry = new StreamConfigEntry(streamId, partition, offset, null,
                $"{StreamFilterConfig.TooLarge(value.Length)} (not kept)", []);
            _entries[streamId] = entry;
            return entry;
        }

        try
        {
            entry = new StreamConfigEntry(streamId, partition, offset, StreamFilterConfig.Parse(value), null, value);
        }
        catch (StreamConfigException e)
        {
            Interlocked.Increment(ref _refused);
            entry = new StreamConfigEntry(streamId, partition, offset, null, e.Message, value);
        }

        _entries[streamId] = entry;
        return entry;
    }

    public void MarkCaughtUp() => _caughtUp.TrySetResult();
}
