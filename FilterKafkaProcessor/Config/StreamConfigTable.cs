using System.Collections.Concurrent;
using SignalPipeline.Filters;

namespace FilterKafkaProcessor.Config;

/// <summary>
/// The latest stream-config record of a stream: its config, or why it was refused. <paramref name="Offset"/> identifies
/// it (a stream's records all land in one partition of the config topic, keyed by its id): a stream's checkpoint
/// records the offset it last acted on, so a record is applied or refused once.
/// </summary>
public sealed record StreamConfigEntry(string StreamId, int Partition, long Offset, StreamFilterConfig? Config, string? Error, byte[] Value);

/// <summary>What <see cref="StreamConfigTable.Apply"/> did with a record: <see cref="Entry"/> is the stream's entry now
/// (null after a tombstone, or when not kept); <see cref="NotKept"/> says a new stream's record was left out because the table
/// was full.</summary>
public readonly record struct StreamConfigApplied(StreamConfigEntry? Entry, bool NotKept);

/// <summary>
/// Every stream's latest config as read from the compacted stream-config topic (a global table: every instance reads
/// all of it, so a stream's config is known wherever its partition moves). Written by one
/// <see cref="StreamConfigReader"/>, read by the stream thread and the HTTP endpoints. Holds at most
/// <paramref name="maxEntries"/> entries (<c>Processor:MaxStreamConfigs</c>): whoever may write the topic could otherwise
/// grow every instance's memory without bound.
/// </summary>
public sealed class StreamConfigTable(StreamFilterConfig defaults, int maxEntries, ProcessorTelemetry? telemetry = null)
{
    /// <summary>Reasons of <c>signalpipeline.processor.stream_configs.refused</c>.</summary>
    public const string InvalidReason = "invalid", TooLargeReason = "too-large", TooManyEntriesReason = "too-many-entries", InvalidKeyReason = "invalid-key";

    /// <summary>Largest entry value taken (a config is about 100 bytes): every instance holds every entry, so a larger one is refused and not kept.</summary>
    public const int MaxEntryBytes = StreamFilterConfig.MaxRecordBytes;

    /// <summary>Largest key (stream id) taken: the codec's limit for a stream id; a longer one could never match a chunk.</summary>
    public static int MaxStreamIdBytes => SignalPipeline.Messages.DecodeLimits.Default.MaxStreamIdBytes;

    private readonly ConcurrentDictionary<string, StreamConfigEntry> _entries = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _refused;
    private long _notKept;
    private long _ignoredKeys;
    private int _count;

    /// <summary>The deployment's <c>FILTER_ALGORITHM</c> and <c>Filter:Params</c>: the config of streams without an entry.</summary>
    public StreamFilterConfig Default { get; } = defaults;

    /// <summary>Entries held (valid or refused); at most <see cref="MaxEntries"/>.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Most entries held (<c>Processor:MaxStreamConfigs</c>).</summary>
    public int MaxEntries { get; } = maxEntries;

    /// <summary>Records read that were refused (each instance counts them; only the stream's owner dead-letters them).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Records of streams without an entry read while the table held <see cref="MaxEntries"/>: not kept.</summary>
    public long NotKept => Interlocked.Read(ref _notKept);

    /// <summary>
    /// Records read whose key names no stream a chunk can have (none, over <see cref="MaxStreamIdBytes"/>, not valid UTF-8):
    /// ignored by the reader, never held.
    /// </summary>
    public long IgnoredKeys => Interlocked.Read(ref _ignoredKeys);

    /// <summary>True once the topic was read to its end as of the reader's start.</summary>
    public bool IsCaughtUp => _caughtUp.Task.IsCompleted;

    public Task CaughtUp => _caughtUp.Task;

    public IEnumerable<StreamConfigEntry> Entries => _entries.Values;

    public StreamConfigEntry? Find(string streamId) => _entries.Count == 0 ? null : _entries.GetValueOrDefault(streamId);

    /// <summary>
    /// Takes one record: a value sets the stream's entry (valid or refused), a tombstone removes it. A value for a stream
    /// without an entry while the table holds <see cref="MaxEntries"/> is not kept: the stream runs the default, and the
    /// record is not remembered (a later tombstone that frees room does not bring it back). Called by one thread.
    /// </summary>
    public StreamConfigApplied Apply(string streamId, int partition, long offset, byte[]? value)
    {
        if (value is null)
        {
            if (_entries.TryRemove(streamId, out _))
            {
                Held(Interlocked.Decrement(ref _count));
            }

            return new(null, false);
        }

        if (_count >= MaxEntries && !_entries.ContainsKey(streamId))
        {
            Interlocked.Increment(ref _notKept);
            telemetry?.StreamConfigRefused(TooManyEntriesReason);
            return new(null, true);
        }

        StreamConfigEntry entry;
        if (value.Length > MaxEntryBytes)
        {
            Refuse(TooLargeReason);
            entry = new StreamConfigEntry(streamId, partition, offset, null,
                $"{StreamFilterConfig.TooLarge(value.Length)} (not kept)", []);
        }
        else
        {
            try
            {
                entry = new StreamConfigEntry(streamId, partition, offset, StreamFilterConfig.Parse(value), null, value);
            }
            catch (StreamConfigException e)
            {
                Refuse(InvalidReason);
                entry = new StreamConfigEntry(streamId, partition, offset, null, e.Message, value);
            }
        }

        if (_entries.TryAdd(streamId, entry))
        {
            Held(Interlocked.Increment(ref _count));
        }
        else
        {
            _entries[streamId] = entry;
        }

        return new(entry, false);
    }

    /// <summary>
    /// Counts a record whose key names no stream (<see cref="IgnoredKeys"/>; <c>stream_configs.refused{reason=invalid-key}</c>):
    /// the reader ignores it. Returns how many so far.
    /// </summary>
    public long IgnoreKey()
    {
        telemetry?.StreamConfigRefused(InvalidKeyReason);
        return Interlocked.Increment(ref _ignoredKeys);
    }

    private void Refuse(string reason)
    {
        Interlocked.Increment(ref _refused);
        telemetry?.StreamConfigRefused(reason);
    }

    private void Held(int count) => telemetry?.StreamConfigsHeld(count);

    public void MarkCaughtUp() => _caughtUp.TrySetResult();
}
