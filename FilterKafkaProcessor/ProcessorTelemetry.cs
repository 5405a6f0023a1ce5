using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using FilterKafkaProcessor.Streaming;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor;

/// <summary>
/// The processor's metrics (Meter "SignalPipeline.Processor") and batch spans (ActivitySource of the same name).
/// Totals are also kept as plain numbers for the periodic rate log line.
/// </summary>
public sealed class ProcessorTelemetry : IDisposable
{
    public const string Name = "SignalPipeline.Processor";
    private const int MaxLinksPerBatch = 32;

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;
    private readonly Counter<long> _samples;
    private readonly Counter<long> _chunks;
    private readonly Histogram<double> _latency;
    private readonly Histogram<long> _batchSize;
    private readonly Histogram<double> _commitDuration;
    private readonly Histogram<double> _commitWait;
    private readonly Counter<long> _deadLetters;
    private readonly Counter<long> _duplicates;
    private readonly Counter<long> _gaps;
    private readonly Counter<long> _skippedSeqs;
    private readonly Counter<long> _replayed;
    private readonly Counter<long> _aborts;
    private readonly Counter<long> _evicted;
    private readonly Counter<long> _configSwitches;
    private readonly Counter<long> _filterRestarts;
    private readonly Histogram<double> _restore;
    private readonly Counter<long> _restoreFailures;
    private readonly Counter<long> _corrupt;
    private readonly Counter<long> _restoreDropped;
    private readonly Counter<long> _truncated;
    private readonly Counter<long> _inputDeleted;
    private readonly Counter<long> _inputTruncated;
    private readonly Counter<long> _streamConfigsRefused;
    private long _streams;
    private long _streamBytes;
    private long _streamConfigs;
    private long _heldBytes;
    private long _outputArrayBytes;
    private long _consumerLag;
    private long _abandonedProducers;

    public ProcessorTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _samples = _meter.CreateCounter<long>("signalpipeline.processor.samples", "{sample}", "Samples filtered and written to the output topic.");
        _chunks = _meter.CreateCounter<long>("signalpipeline.processor.chunks", "{chunk}", "Chunks filtered and written to the output topic.");
        _latency = _meter.CreateHistogram<double>("signalpipeline.processor.latency", "ms", "End-to-end latency: commit time minus the chunk's timestamp_ms.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] });
        _batchSize = _meter.CreateHistogram<long>("signalpipeline.processor.batch.size", "{record}", "Input records per transaction.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000] });
        _commitDuration = _meter.CreateHistogram<double>("signalpipeline.processor.commit.duration", "ms",
            "A committed transaction's commit, from its hand-off to the commit's thread to its end: the input offsets, the delivery of its records, the commit.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000] });
        _commitWait = _meter.CreateHistogram<double>("signalpipeline.processor.commit.wait", "ms",
            "How long the stream thread waited for a transaction's commit after taking what the consumer had fetched for the next batch.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 30000] });
        _deadLetters = _meter.CreateCounter<long>("signalpipeline.processor.dead_letters", "{record}", "Records sent to the dead-letter topic, by error.code.");
        _duplicates = _meter.CreateCounter<long>("signalpipeline.processor.duplicates", "{chunk}", "Chunks dropped because their seq was already processed or held.");
        _gaps = _meter.CreateCounter<long>("signalpipeline.processor.gaps", "{gap}", "Times a stream skipped ahead over missing seqs.");
        _skippedSeqs = _meter.CreateCounter<long>("signalpipeline.processor.skipped_seqs", "{chunk}", "Seqs never processed because a gap was skipped.");
        _replayed = _meter.CreateCounter<long>("signalpipeline.processor.replayed", "{chunk}", "Chunks re-filtered after a restore whose output was already in the output topic (dev broker; not written again).");
        _aborts = _meter.CreateCounter<long>("signalpipeline.processor.transactions.aborted", "{transaction}", "Transactions aborted and retried, by failure (abortable or fatal).");
        _evicted = _meter.CreateCounter<long>("signalpipeline.processor.streams.evicted", "{stream}", "Streams evicted after Processor:StreamIdleSeconds without a chunk (tombstoned).");
        _configSwitches = _meter.CreateCounter<long>("signalpipeline.processor.config.switches", "{switch}", "Streams switched to another filter config (stream-config) in committed transactions.");
        _filterRestarts = _meter.CreateCounter<long>("signalpipeline.processor.filter.restarts", "{restart}",
            "Streams whose filter started again in committed transactions: a chunk a fresh filter takes came out non-finite from the state carried over.");
        _meter.CreateObservableGauge("signalpipeline.processor.streams", () => Interlocked.Read(ref _streams), "{stream}", "Streams held in memory by this instance.");
        _meter.CreateObservableGauge("signalpipeline.processor.streams.bytes", () => Interlocked.Read(ref _streamBytes), "By",
            "What this instance's streams take in memory, about: ids and committed filter states, held chunks aside (Processor:MaxStreamBytes).");
        _meter.CreateObservableGauge("signalpipeline.processor.consumer.lag", () => Interlocked.Read(ref _consumerLag), "{record}",
            "Input records behind the high watermark over this instance's partitions: the watermark its consumer last fetched minus the committed input position.");
        _meter.CreateObservableGauge("signalpipeline.processor.held.bytes", () => Interlocked.Read(ref _heldBytes), "By", "Bytes of out-of-order chunks held for a missing seq, all streams of this instance (Processor:MaxHeldBytes).");
        _meter.CreateObservableGauge("signalpipeline.processor.output_arrays.bytes", () => Interlocked.Read(ref _outputArrayBytes), "By",
            "Bytes of the filtered samples' arrays kept between batches for the next one (at most OutputArrays.MaxRetainedBytes, 8 MiB).");
        _meter.CreateObservableGauge("signalpipeline.processor.producers.abandoned", () => Interlocked.Read(ref _abandonedProducers), "{producer}",
            "Transactional producers left to a Kafka call that has not returned (a commit call given up after 60 s, a stop's commit or abort); at most 3 (RecordCollector.MaxAbandonedProducers).");
        _restore = _meter.CreateHistogram<double>("signalpipeline.processor.restore.duration", "s", "Time to restore assigned partitions' state from the changelog.");
        _restoreFailures = _meter.CreateCounter<long>("signalpipeline.processor.restore.failures", "{restore}", "Restores that failed or stalled and were tried again.");
        _corrupt = _meter.CreateCounter<long>("signalpipeline.processor.restore.corrupt", "{record}", "Changelog records that could not be read (that stream starts empty), or whose filter state is invalid (that stream keeps its position; its filter starts fresh).");
        _restoreDropped = _meter.CreateCounter<long>("signalpipeline.processor.restore.dropped", "{stream}",
            "Streams left out of a restore, the least recently written first, because the instance held Processor:MaxStreams or Processor:MaxStreamBytes (past LeftOutStreams.MaxIds in one restore, an upper bound).");
        _truncated = _meter.CreateCounter<long>("signalpipeline.processor.restore.truncated", "{partition}", "Changelog partitions found not to start where the restore began (records lost).");
        _inputDeleted = _meter.CreateCounter<long>("signalpipeline.processor.input.deleted", "{record}",
            "Input offsets deleted (retention, DeleteRecords) after the committed position and before this group read them: records never processed (a transaction marker among them counts as one).");
        _inputTruncated = _meter.CreateCounter<long>("signalpipeline.processor.input.truncated", "{truncation}",
            "Times an input partition's log was found to end before the committed position (truncated, e.g. by an unclean leader election) and was read on from where the consumer moved.");
        _meter.CreateObservableGauge("signalpipeline.processor.stream_configs", () => Interlocked.Read(ref _streamConfigs), "{entry}",
            "Stream-config entries held by this instance, valid or refused (every instance holds every entry it keeps; Processor:MaxStreamConfigs).");
        _streamConfigsRefused = _meter.CreateCounter<long>("signalpipeline.processor.stream_configs.refused", "{record}",
            "Stream-config records read and refused, by reason: invalid or too-large (held as a refused entry, dead-lettered by the stream's owner), too-many-entries (not kept: the instance held Processor:MaxStreamConfigs entries; the stream runs the default), invalid-key (ignored: the key names no stream a chunk can have).");
    }

    public long Samples;
    public long Chunks;
    public long DeadLetters;
    public long Duplicates;
    public long Gaps;
    public long Replayed;
    public long Aborts;
    public long Transactions;
    public long ConfigSwitches;
    public long FilterRestarts;

    /// <summary>Sums over committed transactions (µs): their commits (from the hand-off), and the stream thread's waits for them.</summary>
    public long CommitMicros;
    public long CommitWaitMicros;

    /// <summary>
    /// The batch span, linked to the producers' trace contexts of the batch's first <see cref="MaxLinksPerBatch"/> records:
    /// records, not links, so a batch whose records carry no <c>traceparent</c> costs 32 header lookups, not one per record.
    /// </summary>
    public static Activity? StartBatch(string topic, List<ConsumeResult<byte[], byte[]>> records)
    {
        if (!ActivitySource.HasListeners())
        {
            return null;
        }

        var links = new List<ActivityLink>();
        for (var i = 0; i < Math.Min(records.Count, MaxLinksPerBatch); i++)
        {
            var context = KafkaTracing.ExtractTraceContext(records[i].Message.Headers);
            if (context != default)
            {
                links.Add(new ActivityLink(context));
            }
        }

        return ActivitySource.StartActivity(ActivityKind.Consumer, default,
            [new("messaging.system", "kafka"), new("messaging.destination.name", topic), new("messaging.batch.message_count", records.Count)], links, name: $"process {topic}");
    }

    /// <summary>The batch span's context, formatted once and shared by every output record of the batch.</summary>
    public static Headers TraceContext(Activity? activity)
    {
        var headers = new Headers();
        if (activity is not null)
        {
            KafkaTracing.InjectTraceContext(headers, activity.Context);
        }

        return headers;
    }

    /// <summary>
    /// Counts what a committed batch did, and times its commit: <paramref name="commit"/> from the hand-off to the
    /// commit's thread to its end, <paramref name="waited"/> what the stream thread spent blocked on it (up to its
    /// wake-up after the end). Counted with <see cref="Transactions"/>, so the rate log's means divide like by like.
    /// </summary>
    public void Committed(Batch batch, long nowMs, TimeSpan commit, TimeSpan waited)
    {
        _commitDuration.Record(commit.TotalMilliseconds);
        _commitWait.Record(waited.TotalMilliseconds);
        Interlocked.Add(ref CommitMicros, (long)commit.TotalMicroseconds);
        Interlocked.Add(ref CommitWaitMicros, (long)waited.TotalMicroseconds);

        if (batch.Records.Count > 0)
        {
            _batchSize.Record(batch.Records.Count);
        }

        // Counted once per batch; the latency histogram, the one per-record instrument, only when someone listens.
        var (chunks, samples, latency) = (0L, 0L, _latency.Enabled);
        foreach (var work in batch.Work)
        {
            if (work.Poison is null)
            {
                chunks++;
                samples += work.Chunk.Decoded!.Signal.Length;
                if (latency)
                {
                    _latency.Record(nowMs - work.Chunk.TimestampMs);
                }
            }
        }

        if (chunks > 0)
        {
            _samples.Add(samples);
            _chunks.Add(chunks);
            Interlocked.Add(ref Samples, samples);
            Interlocked.Add(ref Chunks, chunks);
        }

        Interlocked.Increment(ref Transactions);
        if (batch.Replayed > 0)
        {
            _replayed.Add(batch.Replayed);
            Interlocked.Add(ref Replayed, batch.Replayed);
        }

        foreach (var letter in batch.DeadLetters)
        {
            _deadLetters.Add(1, new KeyValuePair<string, object?>("error.code", letter.Code));
            Interlocked.Increment(ref DeadLetters);
        }

        if (batch.Evicted.Count > 0)
        {
            _evicted.Add(batch.Evicted.Count);
        }

        var counters = batch.Counters;
        if (counters.Duplicates > 0)
        {
            _duplicates.Add(counters.Duplicates);
            Interlocked.Add(ref Duplicates, counters.Duplicates);
        }

        if (counters.Gaps > 0)
        {
            _gaps.Add(counters.Gaps);
            _skippedSeqs.Add(counters.SkippedSeqs);
            Interlocked.Add(ref Gaps, counters.Gaps);
        }

        Activity.Current?.SetTag("signalpipeline.chunks", batch.Work.Count).SetTag("signalpipeline.dead_letters", batch.DeadLetters.Count);
    }

    public void ConfigSwitched(int streams)
    {
        _configSwitches.Add(streams);
        Interlocked.Add(ref ConfigSwitches, streams);
    }

    public void FilterRestarted(int streams)
    {
        _filterRestarts.Add(streams);
        Interlocked.Add(ref FilterRestarts, streams);
    }


    public void Aborted(TransactionFailure failure)
    {
        _aborts.Add(1, new KeyValuePair<string, object?>("failure", failure == TransactionFailure.Fatal ? "fatal" : "abortable"));
        Interlocked.Increment(ref Aborts);
    }

    public void Restored(TimeSpan duration, int partitions)
        => _restore.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("partitions", partitions));

    /// <summary>
    /// The instance's streams and what they take in memory, whenever it counts them (after each commit, rollback, restore and revocation): a count
    /// taken at commits alone kept the streams of partitions taken away until the next commit, forever on an instance
    /// left without partitions.
    /// </summary>
    public void StreamsHeld(int streams, long bytes)
    {
        Interlocked.Exchange(ref _streams, streams);
        Interlocked.Exchange(ref _streamBytes, bytes);
    }

    /// <summary>The instance's held bytes, as last counted (after each commit, rollback, restore and revocation).</summary>
    public void Held(long bytes) => Interlocked.Exchange(ref _heldBytes, bytes);

    /// <summary>The bytes of the filtered samples' arrays kept for the next batch, as counted after each batch (<see cref="Streaming.OutputArrays"/>).</summary>
    public void OutputArraysKept(long bytes) => Interlocked.Exchange(ref _outputArrayBytes, bytes);

    /// <summary>Input records behind the high watermark, all owned partitions (<c>signalpipeline.processor.consumer.lag</c>).</summary>
    public void ConsumerLag(long records) => Interlocked.Exchange(ref _consumerLag, records);

    public long HeldBytes => Interlocked.Read(ref _heldBytes);

    /// <summary>A producer was left to a hung call (+1), or that call returned and the producer was disposed (-1).</summary>
    public void AbandonedProducersChanged(int delta) => Interlocked.Add(ref _abandonedProducers, delta);

    public void RestoreFailed() => _restoreFailures.Add(1);

    public void CorruptCheckpoint() => _corrupt.Add(1);

    public void RestoreDropped(long streams) => _restoreDropped.Add(streams);

    public void ChangelogTruncated() => _truncated.Add(1);

    public void InputDeleted(long offsets) => _inputDeleted.Add(offsets);

    public void InputTruncated() => _inputTruncated.Add(1);

    /// <summary>The stream-config entries this instance holds, after each change.</summary>
    public void StreamConfigsHeld(int entries) => Interlocked.Exchange(ref _streamConfigs, entries);

    /// <summary>A stream-config record read and refused (<c>invalid</c>, <c>too-large</c>) or not kept (<c>too-many-entries</c>).</summary>
    public void StreamConfigRefused(string reason) => _streamConfigsRefused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Dispose() => _meter.Dispose();
}
