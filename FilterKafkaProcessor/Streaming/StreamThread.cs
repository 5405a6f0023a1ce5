using System.Diagnostics;
using Confluent.Kafka;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.Kafka;
using FilterKafkaProcessor.State;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// The processor's loop (Kafka Streams' StreamThread): restores assigned partitions, collects a batch of what the
/// consumer has fetched, lets each partition's task sequence it, filters it (<see cref="BatchFilter"/>) and commits it
/// as one transaction (<see cref="BatchWriter"/>). A failure of the broker or the transport aborts the transaction,
/// rolls back the streams it touched, rewinds their partitions and retries after a capped exponential backoff; a bad
/// record never gets here as a failure (it is a dead letter). Runs on one thread; <see cref="Step"/> is one iteration.
/// The commit's round trips (offsets, flush, commit) run on another thread while this one takes and decodes what the
/// consumer has fetched for the next batch; the commit is over (adopted or recovered from) before the step ends and
/// before a rebalance takes partitions, so between steps no transaction is open.
/// </summary>
public sealed class StreamThread : IDisposable
{
    /// <summary>
    /// How long a stop waits for the batch in flight (a healthy commit takes milliseconds). With Kafka away each call of a
    /// commit or an abort waits for the 30 s transaction timeout, which is the host's shutdown timeout: past it the host
    /// exits under the stream thread, which neither closes its consumer (the group waits out the session timeout) nor says
    /// it stopped. See <see cref="LeaveOnStop"/>.
    /// </summary>
    public static readonly TimeSpan StopWait = TimeSpan.FromSeconds(10);

    private readonly IKafkaSupplier _kafka;
    private readonly ProcessorOptions _options;
    private readonly ProcessorTelemetry _telemetry;
    private readonly ProcessorHealth _health;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RecordCollector _collector;
    private readonly StateRestorer _restorer;
    private readonly BatchFilter _filter;
    private readonly TaskContext _context;
    private readonly TaskManager _manager;
    // The two batches (one collected while the other commits) filter into the same arrays, given back after each commit.
    private readonly OutputArrays _outputs;
    private Batch _batch;
    private Batch _next;
    private PendingCommit? _pending;
    private CancellationToken _stopping;
    private readonly Inspection.StreamQueries? _queries;
    private readonly CodecWorkers _codec;
    private readonly List<(PartitionTask Task, ConsumeResult<byte[], byte[]> Record, int Index)> _accepted = [];
    private DecodedRecord[] _decoded = [];
    private IConsumer<byte[], byte[]>? _consumer;
    private BatchWriter? _writer;
    private long _lastMaintenanceMs;
    private long _lastLagMs;
    private long? _stopSeenAt;
    private int _outputPartitions;
    private int _changelogPartitions;
    private bool _checkTopics;
    private long _lastTopicCheckMs;
    private Error? _consumerRefused;

    public StreamThread(IKafkaSupplier kafka, ProcessorOptions options, IChunkFilterer filterer, ProcessorTelemetry telemetry, ProcessorHealth health, TimeProvider time, ILogger logger, int maxMessageBytes, Config.StreamConfigTable? configs = null, Inspection.StreamQueries? queries = null)
    {
        (_kafka, _options, _telemetry, _health, _time, _logger) = (kafka, options, telemetry, health, time, logger);
        var instance = options.InstanceId ?? $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid():N}";
        _collector = new RecordCollector(kafka, options, $"{ProcessorOptions.ConsumerGroup}-{instance}", logger, time, telemetry.AbandonedProducersChanged);
        _restorer = new StateRestorer(kafka, options, telemetry, logger);
        _filter = new BatchFilter(filterer, configs, options.StreamConfigTopic);
        _queries = queries;
        _context = new TaskContext(options, new ChunkLimits(maxMessageBytes), configs);
        _codec = new CodecWorkers(options.CodecThreads);
        _manager = new TaskManager(options, _context, _restorer, telemetry, time, logger);
        _outputs = new OutputArrays();
        (_batch, _next) = (new Batch(_outputs), new Batch(_outputs));
    }

    private Dictionary<int, PartitionTask> Tasks => _manager.Tasks;

    /// <summary>Input partitions this instance processes now (restored).</summary>
    public IReadOnlyCollection<int> AssignedPartitions => [.. Tasks.Keys];

    public int StreamCount => _context.StreamCount;

    /// <summary>Checks the topics, initialises the transactional producer and subscribes.</summary>
    public void Start()
    {
        int input, output, changelog;
        try
        {
            (input, output, changelog) = RequireTopics();
            if (changelog < input)
            {
                throw new TopicsChangedException(ChangelogTooSmall(changelog, input));
            }

            (_outputPartitions, _changelogPartitions) = (output, changelog);
            _collector.Initialize();
        }
        catch (KafkaException e) when (KafkaAccess.IsRefusal(e.Error.Code))
        {
            // Not an outage the start's retries wait out (FilterKafkaProcessorWorker): the topics' metadata or the
            // transactional id refused.
            throw AccessRefused($"the start's {e.Error.Code} ({e.Error.Reason})");
        }

        _writer = new BatchWriter(_collector, _options, _context.Limits, output, _codec);
        _consumer = _kafka.GetConsumer(ProcessorOptions.ConsumerGroup, new RebalanceHandlers(_manager.OnAssigned, r => OnRevoked(r, "revoked"), r => OnRevoked(r, "lost"),
            OnConsumerError));
        _consumer.Subscribe(_options.InputTopic);
        _health.Running(true);
        _logger.LogInformation("Filtering {Input} -> {Output} with {Algorithm} ({Mode}), transactional id {TransactionalId}; largest chunk accepted: {F64} f64 / {F32} f32 samples (message.max.bytes {Max})",
            _options.InputTopic, _options.OutputTopic, _options.Algorithm, _options.Mode, _collector.TransactionalId,
            LargestChunk(SignalPipeline.Messages.SampleFormat.Float64), LargestChunk(SignalPipeline.Messages.SampleFormat.Float32), _context.Limits.MaxMessageBytes);
    }

    /// <summary>
    /// The largest chunk accepted in a binary form: what one output message holds, and at most Processor:MaxChunkSamples,
    /// which the decoder refuses beyond (too-many-samples) whatever the message size (before 2026-12-05 the log gave the
    /// message's bound alone: 62244 f64 samples with Processor:MaxChunkSamples=1000).
    /// </summary>
    private int LargestChunk(SignalPipeline.Messages.SampleFormat format) => Math.Min(_context.Limits.MaxSamples(format), _options.MaxChunkSamples);

    /// <summary>Runs until cancelled, then closes the consumer: it leaves the group (so the partitions move at once) when Kafka can be reached.</summary>
    public void Run(CancellationToken stoppingToken)
    {
        Start();
        try
        {
            var rate = new RateLog(_telemetry, _logger, _options.RateLogSeconds);
            while (!stoppingToken.IsCancellationRequested)
            {
                Step(stoppingToken);
                rate.MaybeLog(() => $"partitions [{string.Join(",", Tasks.Keys.Order())}], {_context.StreamCount} streams");
            }
        }
        finally
        {
            _health.Running(false);
            try
            {
                _consumer?.Close();
            }
            catch (KafkaException e)
            {
                _logger.LogWarning(e, "Closing the consumer failed");
            }

            _logger.LogInformation("Stopped; consumer closed");
        }
    }

    /// <summary>One iteration: restore what is pending, collect, process, commit (or roll back and back off).</summary>
    public void Step(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        _health.StepStarted(NowMs);

        if (_consumerRefused is { } refused)
        {
            throw AccessRefused($"the group consumer's {refused.Code} ({refused.Reason})");
        }

        // Records taken during the last commit from partitions assigned since were fetched before the restore's seek.
        if (_manager.RestoringSinceMs is not null)
        {
            _batch.RemoveRecords(_manager.IsRestoring);
        }

        // A partition past the changelog's (partitions added to the input while running) has no state to restore or keep;
        // a failed restore or an unknown-topic error of the consumer may be a deleted topic (at most every 30 s, see Recover).
        if (_manager.HighestRestoring >= _changelogPartitions || (_checkTopics && NowMs - _lastTopicCheckMs >= 30_000))
        {
            CheckTopics();
        }

        try
        {
            if (!_manager.RestorePending(_consumer!, p => _writer!.OutputPartition(p), stoppingToken))
            {
                _checkTopics = true;
            }
        }
        catch (KafkaException e) when (KafkaAccess.IsRefusal(e.Error.Code))
        {
            throw AccessRefused($"the restore's {e.Error.Code} ({e.Error.Reason})");
        }

        _queries?.Answer(Tasks); // between transactions: the streams hold their committed state
        Collect(stoppingToken);
        _collector.Poll();
        var now = NowMs;
        var maintain = now - _lastMaintenanceMs >= 1000;
        if (_batch.Records.Count > 0 || maintain)
        {
            ProcessBatch(now, maintain, stoppingToken);
        }

        if (now - _lastLagMs >= 1000)
        {
            _lastLagMs = now;
            _telemetry.ConsumerLag(Lag());
        }

        _health.Pending(Tasks.Values.Select(t => t.State.PendingSinceMs).Append(_manager.RestoringSinceMs).Min());
        _health.StepEnded();
    }

    /// <summary>
    /// Input records behind the high watermark over the owned partitions: the watermarks the consumer last fetched (no
    /// broker call), the high one minus the committed position, or minus the log's start when that is later (nothing
    /// committed yet, or records before the position deleted by retention: those are not there to be read).
    /// librdkafka's own consumer_lag cannot say it: the offsets are committed by the transactional producer, which this
    /// consumer never hears of.
    /// </summary>
    private long Lag()
    {
        var lag = 0L;
        foreach (var (partition, task) in Tasks)
        {
            var watermarks = InputWatermarks(partition);
            if (!watermarks.High.IsSpecial)
            {
                var start = watermarks.Low.IsSpecial ? 0 : watermarks.Low.Value;
                lag += Math.Max(0, watermarks.High.Value - Math.Max(task.State.NextInputOffset, start));
            }
        }

        return lag;
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private void ProcessBatch(long now, bool maintain, CancellationToken stoppingToken)
    {
        var batch = _batch;
        try
        {
            Activity? activity = null;
            WrittenBatch written;
            try
            {
                Accept(batch, now);

                if (maintain)
                {
                    _lastMaintenanceMs = now;
                    foreach (var task in Tasks.Values)
                    {
                        task.Maintain(batch, now);
                    }
                }

                if (batch.IsEmpty)
                {
                    return;
                }

                activity = ProcessorTelemetry.StartBatch(_options.InputTopic, batch.Records);
                _filter.FilterAsync(batch.Work, stoppingToken, batch.DeadLetters).GetAwaiter().GetResult();
                written = _writer!.Write(batch, Tasks, ProcessorTelemetry.TraceContext(activity), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            }
            catch (Exception e) when (stoppingToken.IsCancellationRequested)
            {
                activity?.Dispose();
                LeaveOnStop(batch, e);
                return;
            }
            catch (Exception e)
            {
                activity?.Dispose();
                Recover(batch, e, stoppingToken);
                return;
            }

            // The offsets, the flush and the commit wait on the broker: meanwhile this thread takes the next batch.
            var group = _consumer!.ConsumerGroupMetadata;
            var handedOff = Stopwatch.GetTimestamp();
            _pending = new PendingCommit(batch, written, Task.Run(() =>
            {
                _collector.Commit(written.Offsets, group);
                return Stopwatch.GetElapsedTime(handedOff);
            }), activity);
            try
            {
                CollectDuringCommit(_pending.Commit, stoppingToken);
            }
            finally
            {
                CompleteCommit();
            }
        }
        finally
        {
            batch.Clear();
            _telemetry.OutputArraysKept(_outputs.RetainedBytes);
            (_batch, _next) = (_next, _batch);
        }
    }

    /// <summary>
    /// Waits for the commit running on another thread; then the batch's streams adopt it, or the batch is recovered
    /// from (abort, roll back, rewind). Does nothing when no commit runs.
    /// </summary>
    private void CompleteCommit()
    {
        if (_pending is not { } pending)
        {
            return;
        }

        _pending = null;
        try
        {
            var waiting = Stopwatch.GetTimestamp();
            WaitUnlessHung(pending.Commit);
            var duration = pending.Commit.GetAwaiter().GetResult();
            var waited = Stopwatch.GetElapsedTime(waiting);
            _writer!.Committed(pending.Batch, pending.Written);
            _manager.CountAfterCommit();
            _health.BatchCommitted();
            _telemetry.Committed(pending.Batch, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), duration, waited);
            _telemetry.ConfigSwitched(_filter.Switches);
            if (_filter.Restarts is [var (streamId, seq), ..] restarts)
            {
                _telemetry.FilterRestarted(restarts.Count);
                _logger.LogWarning("{Count} stream(s) had their filter started again (first: '{StreamId}' at seq {Seq}): a chunk came out non-finite from the state carried over (an earlier input near the range of a double) and not from a fresh filter (docs/processor.md)",
                    restarts.Count, streamId, seq);
            }
        }
        catch (Exception e) when (_stopping.IsCancellationRequested)
        {
            LeaveOnStop(pending.Batch, e);
        }
        catch (Exception e)
        {
            Recover(pending.Batch, e, _stopping);
        }
        finally
        {
            pending.Activity?.Dispose();
        }
    }

    /// <summary>
    /// Waits for the commit; gives it up, as of unknown outcome (fatal: a new producer, a restore from the changelog), when
    /// one of its calls has not returned within <see cref="RecordCollector.HungCallAfter"/>. Before, only the liveness
    /// probe freed such a call, by a restart (seen on the dev broker after every broker was down for 30 s: the first
    /// commit after the restore never returned from <c>SendOffsetsToTransaction</c>). Stopping, it is given up after
    /// <see cref="StopWait"/>.
    /// </summary>
    private void WaitUnlessHung(Task commit)
    {
        while (!Ended(commit))
        {
            if (_collector.HasHungCall(out var running))
            {
                _collector.AbandonProducer();
                throw new CommitHungException($"A call of the commit has not returned for {running.TotalSeconds:0} s; its producer is left to it and a new one takes over.");
            }

            if (StopWaitPassed)
            {
                _collector.AbandonProducer();
                throw new CommitHungException($"The commit has not returned {StopWait.TotalSeconds:0} s after the stop; its producer is left to it.");
            }
        }
    }

    /// <summary>
    /// While the commit runs: takes what the consumer has already fetched into the next batch and decodes it, until the
    /// commit is over, nothing more is fetched or the next batch is full. It never waits for a record.
    /// </summary>
    private void CollectDuringCommit(Task commit, CancellationToken stoppingToken)
    {
        while (!commit.IsCompleted && _next.Records.Count < _options.MaxBatchRecords && _next.InputBytes < _options.MaxBatchBytes && !stoppingToken.IsCancellationRequested)
        {
            if (!TakeOne(_next, 0, decode: true))
            {
                return;
            }
        }
    }

    /// <summary>One <c>Consume</c> into <paramref name="batch"/>; false when nothing came within <paramref name="waitMs"/>.</summary>
    private bool TakeOne(Batch batch, int waitMs, bool decode)
    {
        ConsumeResult<byte[], byte[]>? record;
        try
        {
            record = _consumer!.Consume(waitMs);
        }
        catch (ConsumeException e) when (!e.Error.IsFatal)
        {
            // librdkafka may report a subscribed topic that is gone this way ("Subscribed topic not available"), or through
            // the error callback (the consumer's Error handler above: what 2.16.0 does on the dev broker), and goes on
            // consuming nothing: the next step checks the topics.
            _logger.LogWarning("Consume error: {Reason}", e.Error.Reason);
            OnConsumerError(e.Error);
            return true;
        }

        if (record is null)
        {
            return false;
        }

        if (!record.IsPartitionEOF)
        {
            batch.Records.Add(record);
            batch.InputBytes += Batch.RecordBytes(record);
            if (decode)
            {
                batch.Decoded.Add(PartitionTask.Decode(record, _context.DecodeLimits));
            }
        }

        return true;
    }

    /// <summary>
    /// Decodes the records of owned partitions not decoded yet (on the codec threads when worth it), then sequences them
    /// in order.
    /// </summary>
    private void Accept(Batch batch, long now)
    {
        var accepted = _accepted;
        long cost = 0;
        for (var i = 0; i < batch.Records.Count; i++)
        {
            var record = batch.Records[i];
            if (!Tasks.TryGetValue(record.Partition.Value, out var task))
            {
                continue;
            }

            if (record.Offset.Value < task.State.NextInputOffset)
            {
                ReadOnAfterTruncation(task.State, record.Offset.Value);
            }

            accepted.Add((task, record, i));
            cost += i < batch.Decoded.Count ? 0 : CodecWorkers.Cost(record.Message.Value);
        }

        if (_decoded.Length < accepted.Count)
        {
            _decoded = new DecodedRecord[Math.Max(accepted.Count, _decoded.Length * 2)];
        }

        try
        {
            _codec.For(accepted.Count, cost, (accepted, _decoded, batch.Decoded, _context.DecodeLimits), static (s, j) =>
            {
                var (_, record, i) = s.accepted[j];
                s._decoded[j] = i < s.Decoded.Count ? s.Decoded[i] : PartitionTask.Decode(record, s.DecodeLimits);
            });
            for (var j = 0; j < accepted.Count; j++)
            {
                var (task, record, _) = accepted[j];
                var expected = batch.LastOffsets.TryGetValue(task.Partition, out var last) ? last + 1 : task.State.NextInputOffset;
                if (record.Offset.Value > expected && expected >= 0)
                {
                    CheckDeletedUnread(task.State, expected, record.Offset.Value);
                }

                task.Accept(record, _decoded[j], batch, now);
            }
        }
        finally
        {
            Array.Clear(_decoded, 0, accepted.Count);
            accepted.Clear();
        }
    }

    /// <summary>
    /// A record further on than the one after the last read or committed (<paramref name="expected"/>): the offsets between
    /// are transaction markers, aborted records, or records deleted before they were read (retention or DeleteRecords past
    /// the committed position, which librdkafka's auto.offset.reset=earliest passes over with only its OFFSET warning).
    /// The log's start the consumer last fetched tells them apart: offsets below it were deleted. Named and counted once
    /// each; the streams go on, their missing seqs gaps like any other (docs/processor.md, "Recovery, failure by failure").
    /// </summary>
    private void CheckDeletedUnread(PartitionState partition, long expected, long offset)
    {
        var low = InputWatermarks(partition.Partition).Low;
        var from = Math.Max(expected, partition.DeletedUnreadBefore);
        var to = low.IsSpecial ? from : Math.Min(low.Value, offset);
        if (to <= from)
        {
            return;
        }

        partition.DeletedUnreadBefore = to;
        _telemetry.InputDeleted(to - from);
        _logger.LogWarning("Input partition {Partition}: offsets {From}-{To} were deleted (retention or DeleteRecords) before this group read them; {Count} record(s) never processed, the streams go on from offset {Offset} (docs/processor.md, \"Recovery, failure by failure\")",
            partition.Partition, from, to - 1, to - from, offset);
    }

    /// <summary>
    /// A record before the committed position: the consumer was moved back, which this processor never does (it seeks
    /// only to the committed position, and librdkafka drops what it fetched before a seek). Its log was truncated: an
    /// unclean leader election left a leader without the last records, whose offsets the next records take, and
    /// librdkafka moved to that leader's end (KIP-320's validation of the position) or, past the log's end, to its start
    /// (<c>auto.offset.reset=earliest</c>). Read on from there: chunks already processed are dropped by their seq, as
    /// duplicates, and those written at the reused offsets are processed instead of being skipped as done.
    /// </summary>
    private void ReadOnAfterTruncation(PartitionState partition, long offset)
    {
        var end = InputWatermarks(partition.Partition).High;
        _telemetry.InputTruncated();
        _logger.LogWarning("Input partition {Partition}: the consumer moved to offset {Offset}, before the committed position {Committed} (the log, now ending at {End}, was truncated: an unclean leader election); reading on from there: chunks already processed are dropped by their seq, those written since are processed (docs/processor.md, \"Recovery, failure by failure\")",
            partition.Partition, offset, partition.NextInputOffset, end.IsSpecial ? "an unknown offset" : end.Value);
        partition.NextInputOffset = offset;
        partition.DeletedUnreadBefore = -1;
    }

    /// <summary>An input partition's watermarks as the consumer last fetched them (librdkafka's cache: no broker call).</summary>
    private WatermarkOffsets InputWatermarks(int partition) => _consumer!.GetWatermarkOffsets(new TopicPartition(_options.InputTopic, partition));

    /// <summary>Stopping, and <see cref="StopWait"/> is over: a call still running is left to itself.</summary>
    private bool StopWaitPassed => _stopping.IsCancellationRequested && StopWaitLeft() <= TimeSpan.Zero;

    /// <summary>What is left of <see cref="StopWait"/>, counted from the first time it is asked for.</summary>
    private TimeSpan StopWaitLeft()
    {
        _stopSeenAt ??= _time.GetTimestamp();
        return StopWait - _time.GetElapsedTime(_stopSeenAt.Value);
    }

    /// <summary>
    /// Stopping after the batch failed, or while its commit has not returned for <see cref="StopWait"/>: no retry and no
    /// restore (the partitions are handed over). Its transaction is aborted if Kafka answers within what is left of the
    /// wait; otherwise the broker aborts it after the transaction timeout, or the next producer with the same transactional
    /// id does at once. Whoever owns the partitions next reads the batch again from the last commit: nothing is lost.
    /// </summary>
    private void LeaveOnStop(Batch batch, Exception cause)
    {
        _logger.LogWarning("Stopping with a batch of {Records} records not committed ({Reason}); not retried: whoever owns partitions [{Partitions}] next reads them again from the last commit",
            batch.Records.Count, $"{cause.GetType().Name}: {cause.Message}", batch.PartitionList);
        _telemetry.Aborted(RecordCollector.Classify(cause));
        _collector.TryAbort(StopWaitLeft());
    }

    /// <summary>Abort, roll the touched streams back, rewind their partitions, and wait before the retry.</summary>
    private void Recover(Batch batch, Exception cause, CancellationToken stoppingToken)
    {
        // Serve the delivery reports queued so far: the transaction may have failed on a refused record (a produce, the
        // offsets or the commit refused as abortable) before that record's report was served.
        _collector.Poll();
        var refusal = _collector.RefusedByTopic;
        cause = _collector.TransactionError(cause, ProbeOffsets(batch), _consumer?.ConsumerGroupMetadata);
        var failure = RecordCollector.Classify(cause);
        _health.BatchFailed($"{cause.GetType().Name}: {cause.Message}");
        _telemetry.Aborted(failure);
        _logger.LogError(cause, "Batch failed ({Failure}, attempt {Attempt}); aborting, rolling back {Streams} streams and rewinding partitions [{Partitions}]",
            failure, _health.ConsecutiveFailures, batch.Touched.Count, batch.PartitionList);
        try
        {
            if (!AbortUnlessStopWaitPassed(failure))
            {
                _logger.LogWarning("Stopping while the abort of the failed batch has not returned {StopWait} s after the stop; its producer is left to it. Not retried: whoever owns partitions [{Partitions}] next reads them again from the last commit",
                    StopWait.TotalSeconds, batch.PartitionList);
                return;
            }
        }
        catch (KafkaException e)
        {
            _logger.LogError(e, "Recreating the transactional producer failed; retrying after the backoff");
        }

        // Aborted, so nothing of the batch is visible: a topic gone or shrunk under the processor stops it here. Asked at
        // the first failure and then at most every 30 s: with Kafka away each look-up waits for its timeout.
        if (_health.ConsecutiveFailures == 1 || NowMs - _lastTopicCheckMs >= 30_000)
        {
            CheckTopics();
        }

        if (refusal is { Code: var refused } && KafkaAccess.IsRefusal(refused))
        {
            throw AccessRefused($"the broker refused a record for topic '{refusal.Topic}' ({refusal.Error})");
        }

        if (cause is KafkaException { Error.Code: var code } && KafkaAccess.IsRefusal(code))
        {
            throw AccessRefused($"the batch's transaction failed with {code} ({cause.Message})");
        }

        if (refusal is not null)
        {
            CheckWrittenTopics(refusal);
        }

        if (failure == TransactionFailure.Fatal)
        {
            // What the coordinator did with the transaction is not known here: the changelog says what is committed.
            // Every partition is restored and read again from its checkpoint, so what was collected meanwhile goes too.
            _manager.RestoreAll();
            _next.RemoveRecords(static _ => true);
        }
        else
        {
            BatchWriter.RollBack(batch, Tasks);
        }

        if (stoppingToken.IsCancellationRequested)
        {
            // The partitions are handed over: the scan (up to Processor:RestoreStallSeconds with Kafka away) is the next owner's.
            _logger.LogWarning("Stopping during the recovery of the failed batch; not retried: whoever owns partitions [{Partitions}] next reads them again from the last commit",
                batch.PartitionList);
            return;
        }

        try
        {
            _restorer.RescanOutputs([.. batch.LastOffsets.Keys.Concat(batch.Touched.Select(t => t.Partition)).Distinct().Where(Tasks.ContainsKey).Select(p => Tasks[p].State)],
                p => _writer!.OutputPartition(p));
        }
        catch (Exception e) when (e is KafkaException or RestoreStalledException)
        {
            _logger.LogError(e, "Scanning the output after the abort failed; the retry may write chunks the dev broker already shows");
        }

        _manager.Recount();
        foreach (var p in batch.LastOffsets.Keys)
        {
            if (Tasks.TryGetValue(p, out var task))
            {
                _manager.Seek(_consumer!, p, task.State.NextInputOffset);
            }
        }

        // Records of the rewound partitions collected while the commit ran are read again after the seek.
        _next.RemoveRecords(batch.LastOffsets.ContainsKey);

        var backoff = Math.Min(_options.MaxRetryBackoffMs, _options.RetryBackoffMs * Math.Pow(2, Math.Min(_health.ConsecutiveFailures - 1, 20)));
        stoppingToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(backoff));
    }

    /// <summary>
    /// Runs the abort (with Kafka away 30 s, and as long again when it recreates the producer) on another thread, so that a
    /// stop arriving meanwhile waits for it at most what is left of <see cref="StopWait"/>; then its producer is left to
    /// it and false is returned. Throws what the abort threw.
    /// </summary>
    private bool AbortUnlessStopWaitPassed(TransactionFailure failure)
    {
        var abort = Task.Run(() => _collector.Abort(failure));
        while (!Ended(abort))
        {
            if (StopWaitPassed)
            {
                _collector.AbandonProducer();
                return false;
            }
        }

        abort.GetAwaiter().GetResult();
        return true;
    }

    /// <summary>Waits up to 200 ms for <paramref name="task"/>; true when it has ended, failed or not.</summary>
    private static bool Ended(Task task)
    {
        try
        {
            return task.Wait(TimeSpan.FromMilliseconds(200));
        }
        catch (AggregateException)
        {
            return true;
        }
    }

    private void Collect(CancellationToken stoppingToken)
    {
        var clock = Stopwatch.StartNew();
        while (_batch.Records.Count < _options.MaxBatchRecords && _batch.InputBytes < _options.MaxBatchBytes && !stoppingToken.IsCancellationRequested)
        {
            // Wait up to 100 ms for a first record; then take what is already fetched (group commit), waiting up to
            // LingerMs for more, never past MaxBatchMs.
            var first = _batch.Records.Count == 0;
            var wait = first ? 100 : Math.Min(_options.LingerMs, _options.MaxBatchMs - (int)clock.ElapsedMilliseconds);
            if (!first && clock.ElapsedMilliseconds >= _options.MaxBatchMs)
            {
                return;
            }

            if (!TakeOne(_batch, Math.Max(wait, 0), decode: false))
            {
                return;
            }

            if (first)
            {
                // MaxBatchMs counts from the batch's first record: a longer wait for it must not close the batch on that
                // record alone, leaving behind what was fetched with it.
                clock.Restart();
            }
        }
    }

    private void OnRevoked(IReadOnlyList<TopicPartitionOffset> revoked, string why)
    {
        // Called from Consume, maybe while a commit runs: it ends first, so the partitions leave with their streams'
        // state committed or rolled back, never in between (and a retained state matches the changelog).
        CompleteCommit();
        _manager.OnRevoked(revoked, why);

        // Records read but not processed: the next owner reads them again from the checkpoint.
        _batch.RemoveRecords(p => !Tasks.ContainsKey(p));
        _next.RemoveRecords(p => !Tasks.ContainsKey(p));
    }

    /// <summary>A written batch whose commit runs on another thread.</summary>
    private sealed record PendingCommit(Batch Batch, WrittenBatch Written, Task<TimeSpan> Commit, Activity? Activity);

    /// <summary>
    /// Kafka Streams' answer to topics changed under a running application (a deleted source topic stops it,
    /// MissingSourceTopicException, KIP-662; a changelog with fewer partitions than the tasks is an error naming the
    /// topic): a topic the processor reads or writes that is gone, an output with fewer partitions than it writes to, or
    /// a changelog with fewer partitions than the input (partitions added to the input while running) stops the stream
    /// thread with what to fix, instead of retrying forever. Asked only when something failed (a batch, a restore, the
    /// consumer's unknown-topic error) or a partition past the changelog's is assigned; a look-up Kafka does not answer
    /// decides nothing (the retries go on, as for any outage). Raised partitions of the changelog are taken.
    /// </summary>
    private void CheckTopics()
    {
        (_checkTopics, _lastTopicCheckMs) = (false, NowMs);
        int? input, output, dlq, changelog;
        try
        {
            // One metadata request for the four: with Kafka away, one look-up's timeout, not four.
            var counts = _kafka.PartitionCounts(_options.InputTopic, _options.OutputTopic, _options.DlqTopic, _options.ChangelogTopic);
            (input, output, dlq, changelog) = (counts[0], counts[1], counts[2], counts[3]);
        }
        catch (KafkaException e)
        {
            _logger.LogWarning("Could not check the topics ({Reason}); the retries go on", e.Error.Reason);
            return;
        }

        var problems = new List<string>();
        foreach (var (count, topic, setting) in new[] { (input, _options.InputTopic, PipelineTopics.InputSetting), (output, _options.OutputTopic, PipelineTopics.OutputSetting),
            (dlq, _options.DlqTopic, PipelineTopics.DeadLetterSetting), (changelog, _options.ChangelogTopic, PipelineTopics.ChangelogSetting) })
        {
            if (count is null)
            {
                problems.Add($"{setting}: topic '{topic}' does not exist any more (deleted while the processor ran; fix: signal-pipeline kafka topics ensure)");
            }
        }

        if (output < _outputPartitions)
        {
            problems.Add($"{PipelineTopics.OutputSetting}: topic '{_options.OutputTopic}' has {output} partitions, fewer than the {_outputPartitions} the processor writes to (deleted and created again; started again, the processor maps its input partitions to the new count)");
        }

        if (changelog is { } c && input is { } i)
        {
            _changelogPartitions = c;
            var highest = Math.Max(i - 1, _manager.HighestRestoring ?? -1);
            if (c <= highest)
            {
                problems.Add(ChangelogTooSmall(c, highest + 1));
            }
        }

        if (problems.Count > 0)
        {
            throw TopicsChanged(string.Join("; ", problems));
        }
    }

    /// <summary>
    /// The broker refused a record of the failed batch for what its topic takes: as too large (<c>MSG_SIZE_TOO_LARGE</c>,
    /// a topic's <c>max.message.bytes</c> lowered since the start check, or <c>RECORD_LIST_TOO_LARGE</c>, its
    /// <c>segment.bytes</c>; librdkafka fills a batch up to the producer's <c>batch.size</c>, so small records are
    /// refused together too) or as a record without a key for a compacted
    /// topic (<c>INVALID_RECORD</c>: a dead-letter topic made compacted). Every retry would fail the same way, so the
    /// start check's rules for the topics it writes are asked again: a topic that breaks one stops the processor, naming
    /// the topic and the fix, as a start would. A cluster that will not describe the configs (the dev broker) leaves the
    /// retries to go on, with a warning that says what to check.
    /// </summary>
    private void CheckWrittenTopics(TopicRefusal refusal)
    {
        var writes = _context.Limits.MaxMessageBytes;
        var written = _options.WrittenTopics(writes);
        string[] names = [.. written.Select(t => t.Name)];
        IReadOnlyDictionary<string, ObservedTopic> observed;
        try
        {
            observed = _kafka.ObserveTopics(names, names);
        }
        catch (KafkaException e)
        {
            _logger.LogWarning("The broker refused a record for topic '{Topic}' ({Error}), and the topic's configs could not be read ({Reason}); the retries go on", refusal.Topic, refusal.Error, e.Error.Reason);
            return;
        }

        var problems = TopicCheck.Evaluate(written.Where(t => observed.ContainsKey(t.Name)), observed)
            .Where(p => p.Fix is TopicFix.RaiseMaxMessageBytes or TopicFix.RaiseSegmentBytes or TopicFix.Uncompact).ToList();
        if (problems.Count > 0)
        {
            throw TopicsChanged($"the broker refused a record for topic '{refusal.Topic}' ({refusal.Error}); {string.Join("; ", problems.Select(p => p.Message))}", TopicCheck.HowToFix(problems, _kafka.BootstrapServers));
        }

        if (observed.GetValueOrDefault(refusal.Topic)?.Configs is { } configs)
        {
            _logger.LogWarning("The broker refused a record for topic '{Topic}' ({Error}), whose max.message.bytes ({Takes}), segment.bytes ({Segment}) and cleanup.policy ({Policy}) now take what the processor writes (records and batches of up to {Writes} bytes, message.max.bytes); the retries go on",
                refusal.Topic, refusal.Error, configs.GetValueOrDefault("max.message.bytes") ?? "unknown", configs.GetValueOrDefault("segment.bytes") ?? "unknown", configs.GetValueOrDefault("cleanup.policy") ?? "unknown", writes);
        }
        else
        {
            _logger.LogWarning("The broker refused a record for topic '{Topic}' ({Error}), and the cluster would not describe the topic's configs: check that its max.message.bytes and segment.bytes take {Writes} bytes (the processor's producer sends records and batches of up to its message.max.bytes), that the broker's message.max.bytes does, and, for a record without a key, that the topic is not compacted (docs/kafka.md, \"Checked at start\"); the retries go on",
                refusal.Topic, refusal.Error, writes);
        }
    }

    /// <summary>The stop when the topics changed under the processor: <paramref name="problems"/>, then <paramref name="fix"/> if any (both topic checks).</summary>
    private static TopicsChangedException TopicsChanged(string problems, string? fix = null)
        => new($"The pipeline's topics changed under the processor; it stops: {problems}. {(fix is null ? "" : fix + " ")}Nothing uncommitted was kept: started again, it resumes from the last commit (docs/processor.md, \"Topics changed while running\").");

    /// <summary>
    /// The input offsets a transaction in an abortable error state is asked its error with
    /// (<see cref="RecordCollector.TransactionError"/>): the batch's, or, for a batch of evictions only, the tasks'
    /// (librdkafka asks nothing for an empty list).
    /// </summary>
    private List<TopicPartitionOffset> ProbeOffsets(Batch batch)
        => batch.LastOffsets.Count > 0
            ? [.. batch.LastOffsets.Select(o => new TopicPartitionOffset(_options.InputTopic, o.Key, o.Value + 1))]
            : [.. Tasks.Values.Where(t => t.State.NextInputOffset >= 0).Select(t => new TopicPartitionOffset(_options.InputTopic, t.Partition, t.State.NextInputOffset))];

    private void OnConsumerError(Error error)
    {
        _checkTopics |= IsUnknownTopic(error.Code);
        if (KafkaAccess.IsRefusal(error.Code))
        {
            _consumerRefused ??= error;
        }
    }

    /// <summary>What failed has been aborted (or, for the consumer, not read); the message names every ACL the stream thread needs.</summary>
    private AccessRefusedException AccessRefused(string what)
        => AccessRefusedException.For(what, $"READ on topic '{_options.InputTopic}' ({PipelineTopics.InputSetting}) and on group '{ProcessorOptions.ConsumerGroup}', "
            + $"WRITE on topics '{_options.OutputTopic}' ({PipelineTopics.OutputSetting}) and '{_options.DlqTopic}' ({PipelineTopics.DeadLetterSetting}), "
            + $"READ and WRITE on topic '{_options.ChangelogTopic}' ({PipelineTopics.ChangelogSetting}) and WRITE on transactional id '{_collector.TransactionalId}'");

    private static bool IsUnknownTopic(ErrorCode code)
        => code is ErrorCode.UnknownTopicOrPart or ErrorCode.Local_UnknownTopic or ErrorCode.Local_UnknownPartition;

    private string ChangelogTooSmall(int changelog, int input)
        => $"{PipelineTopics.ChangelogSetting} '{_options.ChangelogTopic}' has {changelog} partitions but {PipelineTopics.InputSetting} '{_options.InputTopic}' has {input}: the changelog must be co-partitioned with the input (its partition i holds the state of input partition i; fix: kafka-topics --alter --topic {_options.ChangelogTopic} --partitions {input}, see docs/kafka.md)";

    /// <summary>
    /// The four topics' partition counts in one metadata request (with Kafka away, one look-up's timeout, not four);
    /// every missing topic named at once.
    /// </summary>
    private (int Input, int Output, int Changelog) RequireTopics()
    {
        (string Topic, string Setting)[] topics = [(_options.InputTopic, PipelineTopics.InputSetting), (_options.OutputTopic, PipelineTopics.OutputSetting),
            (_options.DlqTopic, PipelineTopics.DeadLetterSetting), (_options.ChangelogTopic, PipelineTopics.ChangelogSetting)];
        var counts = _kafka.PartitionCounts([.. topics.Select(t => t.Topic)]);
        var missing = topics.Where((_, i) => counts[i] is null).Select(t => $"{t.Setting}: topic '{t.Topic}' does not exist").ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"{string.Join("; ", missing)}. Create the pipeline's topics with: signal-pipeline kafka topics ensure");
        }

        return (counts[0]!.Value, counts[1]!.Value, counts[3]!.Value);
    }

    public void Dispose()
    {
        _collector.Dispose();
        _consumer?.Dispose();
        _restorer.Dispose();
    }
}

/// <summary>
/// A topic the processor reads or writes was deleted, or no longer has the partitions it uses (<see cref="StreamThread"/>'s
/// topic check): the service stops, naming the topic and the fix, instead of retrying forever.
/// </summary>
public sealed class TopicsChangedException(string message) : ServiceStopException(message);
