using System.Text;
using FilterKafkaProcessor.Kafka;

namespace FilterKafkaProcessor.State;

/// <summary>
/// Rebuilds assigned partitions' state from the changelog partition of the same number (Kafka Streams' restore): last
/// record per key wins, a tombstone removes a stream, the empty key is the partition checkpoint. A partition this
/// instance owned until the rebalance keeps its state and reads only what was written since. A corrupt record never
/// stops the restore: it is logged and counted, and that stream starts empty (or, for the partition checkpoint, the
/// position falls back to the group's committed offset).
/// </summary>
public sealed class StateRestorer(IKafkaSupplier kafka, ProcessorOptions options, ProcessorTelemetry telemetry, ILogger logger) : IDisposable
{
    /// <summary>
    /// Readers that restore partitions side by side: a consumer has one fetch in flight per broker, and the dev broker
    /// answers a fetch with one record batch per partition, so one reader restored 1,000,000 streams in ~7 s.
    /// </summary>
    public const int ParallelReaders = 4;

    private readonly List<Confluent.Kafka.IConsumer<byte[], byte[]>> _consumers = [];
    private readonly RefusalWatch _refusals = new();

    private ChangelogReader Reader => ReaderAt(0);

    private ChangelogReader ReaderAt(int index)
    {
        while (_consumers.Count <= index)
        {
            _consumers.Add(kafka.GetRestoreConsumer(ProcessorOptions.ConsumerGroup + "-restore", _refusals.Note));
        }

        return new ChangelogReader(_consumers[index], TimeSpan.FromSeconds(options.RestoreStallSeconds), _refusals);
    }

    /// <summary>A filter state's sample count no stream reaches: 2^62 samples are 146,000 years at 1 MHz.</summary>
    public const long MaxSamplesProcessed = 1L << 62;

    /// <summary>
    /// Why a checkpoint's filter state cannot be run, or null. It is restored once here (about 0.1 µs for kalman, docs/processor.md): kept,
    /// a corrupt one would fail every chunk of its stream where it is restored (filter-failed, or remote-refused by the
    /// service), and a forged sample count near 2^63 would wrap to a negative one in local mode, which then fails the same
    /// way. The checkpoint's envelope has no checksum of its own; the filter state does (docs/filters.md).
    /// </summary>
    public static string? InvalidFilterState(byte[] state)
    {
        try
        {
            var samples = SignalPipeline.Filters.FilterFactory.Restore(state).SamplesProcessed;
            return samples > MaxSamplesProcessed ? $"it claims {samples} samples processed; no stream reaches {MaxSamplesProcessed}" : null;
        }
        catch (SignalPipeline.Filters.InvalidFilterStateException e)
        {
            return e.Message;
        }
    }

    /// <param name="partitions">The partitions to restore.</param>
    /// <param name="retained">State this instance still holds for some of them (read on from its changelog end).</param>
    /// <param name="committed">The group's committed input offsets (the fallback position).</param>
    /// <param name="outputPartition">Output partition of an input partition.</param>
    /// <param name="nowMs">The processor's clock: restored streams count as active now (for idle eviction).</param>
    /// <param name="heldElsewhere">Streams the instance holds in its other partitions (for <c>Processor:MaxStreams</c>).</param>
    /// <param name="streamBytesElsewhere">What those streams take in memory (for <c>Processor:MaxStreamBytes</c>).</param>
    /// <param name="heldBytesElsewhere">Bytes of chunks held in its other partitions (for <c>Processor:MaxHeldBytes</c>).</param>
    /// <param name="maxStreamHeldBytes">What one stream's held chunks may take (so its checkpoint fits one message).</param>
    public Dictionary<int, PartitionState> Restore(
        IReadOnlyCollection<int> partitions, IReadOnlyDictionary<int, PartitionState> retained, IReadOnlyDictionary<int, long> committed, Func<int, int> outputPartition, long nowMs,
        int heldElsewhere, long streamBytesElsewhere, long heldBytesElsewhere, long maxStreamHeldBytes)
    {
        var result = new Dictionary<int, PartitionState>();
        var from = new Dictionary<int, long>();
        var scanFrom = new Dictionary<int, long>();
        foreach (var p in partitions)
        {
            var state = retained.TryGetValue(p, out var kept) ? kept : new PartitionState(p, committed.GetValueOrDefault(p, -1), 0);
            from[p] = retained.ContainsKey(p) ? state.ChangelogEnd : 0;
            scanFrom[p] = state.OutputEnd;
            result[p] = state;
        }

        var budget = new StreamBudget(heldElsewhere + result.Values.Sum(s => s.Count), streamBytesElsewhere + result.Values.Sum(s => s.Bytes), [.. result.Values]);

        // Each record is applied as it is read (last record per key wins), so a restore holds no more than the state
        // it rebuilds: a million streams' raw checkpoints are never kept side by side with the streams made from them.
        // The partitions are shared out among up to ParallelReaders readers; each partition is read and applied by one.
        var groups = partitions.Select((p, i) => (p, i)).GroupBy(x => x.i % ParallelReaders, x => x.p).Select(g => g.ToList()).ToList();
        var readers = groups.Select((_, i) => ReaderAt(i)).ToList();
        var results = new (Dictionary<int, (long Low, long High)> Marks, Dictionary<int, long> ScanFrom)[groups.Count];
        try
        {
            Parallel.For(0, groups.Count, new ParallelOptions { MaxDegreeOfParallelism = ParallelReaders }, g =>
            {
                var groupScanFrom = groups[g].ToDictionary(p => p, p => scanFrom[p]);
                var decoded = new List<RestoredRecord>(AdmitBatch);
                var groupMarks = readers[g].ReadToEnd(options.ChangelogTopic, groups[g].ToDictionary(p => p, p => from[p]), (p, record) =>
                {
                    if (record.Message.Key is { } key
                        && Decode(p, result[p], Encoding.UTF8.GetString(key), record.Message.Value, record.Message.Timestamp.UnixTimestampMs, committed, nowMs, groupScanFrom) is { } next)
                    {
                        decoded.Add(next);
                        if (decoded.Count == AdmitBatch)
                        {
                            Admit(decoded, budget);
                            decoded.Clear();
                        }
                    }
                });
                Admit(decoded, budget);
                results[g] = (groupMarks, groupScanFrom);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }

        MarkPastHeldBounds(partitions, result.Values, heldBytesElsewhere, maxStreamHeldBytes);

        // While reading, a stream's activity was the time its checkpoint was written (to choose what to leave out);
        // from here on a restored stream counts as active now, for idle eviction. The write order is kept.
        foreach (var state in result.Values)
        {
            state.MarkAllActive(nowMs);
        }

        if (budget.LeftOut.Count > 0)
        {
            var leftOut = budget.LeftOut;
            telemetry.RestoreDropped(leftOut.Count);
            logger.LogWarning(
                "Restoring partitions [{Partitions}]: {Dropped} streams left out, the least recently written first, to stay within Processor:MaxStreams = {MaxStreams} and Processor:MaxStreamBytes = {MaxStreamBytes} (this instance took over more streams than its limits); their next chunks start new streams while there is room{Bound}",
                string.Join(",", partitions.Order()), leftOut.Exact ? leftOut.Count : $"at most {leftOut.Count}", options.MaxStreams, options.MaxStreamBytes,
                leftOut.Exact ? "" : $" (past {LeftOutStreams.MaxIds} stream ids a stream left out is counted, not remembered: one taken back later still counts)");
        }

        var marks = results.SelectMany(r => r.Marks).ToDictionary(m => m.Key, m => m.Value);
        foreach (var (p, start) in results.SelectMany(r => r.ScanFrom))
        {
            scanFrom[p] = start;
        }

        foreach (var p in partitions)
        {
            var (low, high) = marks[p];
            if (low > from[p])
            {
                telemetry.ChangelogTruncated();
                logger.LogWarning(
                    "Changelog {Topic} [{Partition}] starts at offset {Low}, after {From}: records before it are gone (the dev broker keeps only the newest ~5 MiB of a partition; on a real cluster check that the topic is compacted, not deleted). Streams whose last checkpoint was there start from empty state.",
                    options.ChangelogTopic, p, low, from[p]);
            }

            result[p].ChangelogEnd = Math.Max(from[p], high);
        }

        if (options.DevBrokerCompensation)
        {
            new OutputScan(Reader, options, logger).Apply(result, scanFrom, outputPartition);
        }

        return result;
    }

    /// <summary>
    /// Held chunks are restored within <c>Processor:MaxHeldBytes</c> as the live path holds them: in the order their
    /// checkpoints were written, a stream whose held chunks would pass the instance's bound (with what its other
    /// partitions hold), or that is past its own (<c>Processor:MaxHeldChunks</c>, or what a checkpoint may carry since
    /// <c>message.max.bytes</c> was lowered), is marked for the first maintenance after the restore to skip its gaps
    /// (<see cref="PartitionState.OverHeldBound"/>): its held chunks are then filtered and written, the missing seqs
    /// counted in <c>gaps</c> and <c>skipped_seqs</c>. Dropping them here would lose them: they are committed nowhere else.
    /// </summary>
    private void MarkPastHeldBounds(IReadOnlyCollection<int> partitions, IEnumerable<PartitionState> restored, long heldBytesElsewhere, long maxStreamHeldBytes)
    {
        var held = heldBytesElsewhere;
        var marked = 0;
        var markedBytes = 0L;
        var holding = restored.SelectMany(state => state.Holding.Select(stream => (State: state, Stream: stream)))
            .OrderBy(h => h.Stream.LastActiveMs).ThenBy(h => h.Stream.StreamId, StringComparer.Ordinal);
        foreach (var (state, stream) in holding)
        {
            if (stream.HeldBytes > maxStreamHeldBytes || stream.HeldCount > options.MaxHeldChunks || held + stream.HeldBytes > options.MaxHeldBytes)
            {
                state.OverHeldBound.Add(stream);
                marked++;
                markedBytes += stream.HeldBytes;
            }
            else
            {
                held += stream.HeldBytes;
            }
        }

        if (marked > 0)
        {
            logger.LogWarning(
                "Restoring partitions [{Partitions}]: {Streams} streams hold {Bytes} bytes of chunks past Processor:MaxHeldBytes = {MaxHeldBytes} (with the {Held} bytes kept held), or past their own bound (Processor:MaxHeldChunks = {MaxHeldChunks}, {MaxStreamHeldBytes} bytes); their gaps are skipped in the first batch after the restore and their held chunks filtered and written then (counted in gaps and skipped_seqs)",
                string.Join(",", partitions.Order()), marked, markedBytes, options.MaxHeldBytes, held, options.MaxHeldChunks, maxStreamHeldBytes);
        }
    }

    /// <summary>
    /// After an aborted transaction, with <c>Processor:DevBrokerCompensation</c>: what it wrote is visible on the dev
    /// broker, so the output is scanned again from each partition's last committed end (nothing to do elsewhere).
    /// </summary>
    public void RescanOutputs(IReadOnlyCollection<PartitionState> partitions, Func<int, int> outputPartition)
    {
        if (options.DevBrokerCompensation && partitions.Count > 0)
        {
            new OutputScan(Reader, options, logger).Apply(partitions.ToDictionary(s => s.Partition), partitions.ToDictionary(s => s.Partition, s => s.OutputEnd), outputPartition);
        }
    }

    /// <summary>
    /// The instance's stream count during a restore, shared by the parallel readers, and the partitions being restored:
    /// their streams are added and removed under this object's lock, since a stream read in one partition may take the
    /// place of one in another.
    /// </summary>
    private sealed class StreamBudget(int held, long bytes, IReadOnlyList<PartitionState> restoring)
    {
        public int Held = held;

        /// <summary>What the held streams take in memory (<see cref="StreamState.Bytes"/>).</summary>
        public long Bytes = bytes;

        /// <summary>The streams left out so far (up to <see cref="LeftOutStreams.MaxIds"/> by id, then counted).</summary>
        public LeftOutStreams LeftOut { get; } = new();

        /// <summary>The least recently written stream holding no chunks over all the partitions being restored, or null.</summary>
        public (PartitionState State, StreamState Stream)? OldestNotHolding()
        {
            (PartitionState, StreamState)? oldest = null;
            foreach (var state in restoring)
            {
                if (state.OldestNotHolding() is { } stream && (oldest is not { } o || stream.LastActiveMs < o.Item2.LastActiveMs))
                {
                    oldest = (state, stream);
                }
            }

            return oldest;
        }
    }

    /// <summary>
    /// Stream checkpoints a reader decodes before it takes the budget's lock once for all of them: with the lock taken
    /// per record, four readers on two cores spent 8 % of their time in <c>Monitor.Enter</c>, 3 % since
    /// (docs/benchmarks.md, "Where a restore's time goes").
    /// </summary>
    private const int AdmitBatch = 256;

    /// <summary>A changelog record of a stream, decoded: <see cref="Stream"/> is null for a tombstone or a corrupt checkpoint.</summary>
    private readonly record struct RestoredRecord(PartitionState State, string Key, StreamState? Stream, bool Holding, long WrittenMs);

    /// <summary>
    /// Decodes one changelog record outside the budget's lock (the costly part): a partition checkpoint is applied here
    /// (only this partition's reader touches it) and gives null; a stream's checkpoint or tombstone is returned for
    /// <see cref="Admit"/>. A corrupt checkpoint leaves the stream out: it starts empty.
    /// </summary>
    private RestoredRecord? Decode(int p, PartitionState state, string key, byte[]? value, long writtenMs, IReadOnlyDictionary<int, long> committed, long nowMs,
        Dictionary<int, long> scanFrom)
    {
        if (key == PartitionCheckpoint.Key)
        {
            try
            {
                var checkpoint = PartitionCheckpoint.Deserialize(value);
                state.NextInputOffset = checkpoint.NextInputOffset;
                scanFrom[p] = checkpoint.OutputScanFrom;
            }
            catch (FormatException e)
            {
                telemetry.CorruptCheckpoint();
                state.NextInputOffset = committed.GetValueOrDefault(p, -1);
                logger.LogError("Changelog partition {Partition}: the partition checkpoint is corrupt ({Reason}); resuming from the group's committed offset {Offset}", p, e.Message, state.NextInputOffset);
            }

            return null;
        }

        StreamState? stream = null;
        var holding = false;
        if (value is not null)
        {
            try
            {
                var checkpoint = StreamCheckpoint.Deserialize(value, options.InputTopic);
                var filterState = checkpoint.FilterState;
                if (filterState is not null && InvalidFilterState(filterState) is { } reason)
                {
                    telemetry.CorruptCheckpoint();
                    logger.LogError("Changelog partition {Partition}: the filter state in the checkpoint of stream '{Stream}' is invalid ({Reason}); the stream keeps its position and held chunks, its filter starts fresh",
                        p, key, reason);
                    filterState = null;
                }

                stream = new StreamState(key, checkpoint.NextSeq, checkpoint.Held, filterState, checkpoint.Setting).Committed();
                if (checkpoint.Held.Count > 0)
                {
                    holding = true;
                    stream.HeldBytes = checkpoint.Held.Sum(h => h.CheckpointBytes);
                    stream.HoldingSince(nowMs);
                }
            }
            catch (FormatException e)
            {
                telemetry.CorruptCheckpoint();
                logger.LogError("Changelog partition {Partition}: the checkpoint of stream '{Stream}' is corrupt ({Reason}); the stream starts from empty state", p, key, e.Message);
            }
        }

        return new RestoredRecord(state, key, stream, holding, writtenMs);
    }

    /// <summary>
    /// Applies decoded stream records in the order read, under the budget's lock. A new stream past
    /// <c>Processor:MaxStreams</c> or <c>Processor:MaxStreamBytes</c> (an instance taking over more streams than its limits)
    /// takes the place of the least recently written streams holding no chunks of all the partitions being restored (by
    /// the records' timestamps), as many as it needs to fit, or
    /// is left out when it was written before every such stream or there is none (unless it holds chunks itself: those
    /// are committed nowhere else), so a restore holds about the limit, not what every earlier owner held together, and
    /// keeps the streams written last wherever their partition is. A later checkpoint of a stream already restored is
    /// checked the same way, so the limit is passed only by streams whose latest checkpoint holds chunks.
    /// </summary>
    private void Admit(List<RestoredRecord> records, StreamBudget budget)
    {
        if (records.Count == 0)
        {
            return;
        }

        lock (budget)
        {
            foreach (var record in records)
            {
                Admit(record, budget);
            }
        }
    }

    private void Admit(RestoredRecord record, StreamBudget budget)
    {
        var (state, key, stream, holding, writtenMs) = record;

        // Held and Bytes follow every Remove and Add below, so a stream that is only replaced leaves them as they were.
        if (state.TryGet(key, out var existing))
        {
            state.Remove(existing);
            budget.Held--;
            budget.Bytes -= existing.Bytes;
        }

        if (stream is null)
        {
            budget.LeftOut.Remove(key); // a tombstone (the stream is gone) or a corrupt checkpoint (it starts empty): not left out

            return;
        }

        // A replacement is checked too: a stream let in past the limit for the chunks its older checkpoint held
        // stays only while its latest checkpoint holds some (before, its replacement was never checked again).
        // Past MaxStreamBytes a large stream may take the place of several small ones.
        while (budget.Held >= options.MaxStreams || budget.Bytes + stream.Bytes > options.MaxStreamBytes)
        {
            // Compaction keeps each stream's last checkpoint in the order they were written: the oldest went quiet first.
            if (budget.OldestNotHolding() is { } oldest && oldest.Stream.LastActiveMs <= writtenMs)
            {
                oldest.State.Remove(oldest.Stream);
                budget.Held--;
                budget.Bytes -= oldest.Stream.Bytes;
                budget.LeftOut.Add(oldest.Stream.StreamId);
            }
            else if (!holding)
            {
                budget.LeftOut.Add(key);
                return;
            }
            else
            {
                break;
            }
        }

        // Until the restore ends, a stream's activity is when its checkpoint was written (MarkAllActive then).
        state.Add(stream, writtenMs);
        budget.Held++;
        budget.Bytes += stream.Bytes;
        budget.LeftOut.Remove(key);

        if (holding)
        {
            state.Holding.Add(stream);
        }
    }

    public void Dispose()
    {
        foreach (var consumer in _consumers)
        {
            consumer.Close();
            consumer.Dispose();
        }
    }
}
