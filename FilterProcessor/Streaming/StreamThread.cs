using System.Diagnostics;
using Confluent.Kafka;
using FilterProcessor.Filtering;
using FilterProcessor.Kafka;
using FilterProcessor.State;
using SignalPipeline.Kafka;

namespace FilterProcessor.Streaming;

/// <summary>
/// The processor's loop (Kafka Streams' StreamThread): restores assigned partitions, collects a batch of what the
/// consumer has fetched, lets each partition's task sequence it, filters it (<see cref="BatchFilter"/>) and commits it
/// as one transaction (<see cref="BatchWriter"/>). A failure of the broker or the transport aborts the transaction,
/// rolls back the streams it touched, rewinds their partitions and retries after a capped exponential backoff; a bad
/// record never gets here as a failure (it is a dead letter). Runs on one thread; <see cref="Step"/> is one iteration.
/// </summary>
public sealed class StreamThread : IDisposable
{
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
    private readonly Dictionary<int, PartitionTask> _tasks = [];
    private readonly Dictionary<int, PartitionState> _retained = [];
    private readonly SortedSet<int> _restoring = [];
    private readonly Batch _batch = new();
    private IConsumer<byte[], byte[]>? _consumer;
    private BatchWriter? _writer;
    private long _lastMaintenanceMs;
    private long _restoringSinceMs;

    public StreamThread(IKafkaSupplier kafka, ProcessorOptions options, IChunkFilterer filterer, ProcessorTelemetry telemetry, ProcessorHealth health, TimeProvider time, ILogger logger, int maxMessageBytes)
    {
        (_kafka, _options, _telemetry, _health, _time, _logger) = (kafka, options, telemetry, health, time, logger);
        var instance = options.InstanceId ?? $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid():N}";
        _collector = new RecordCollector(kafka, options, $"{ProcessorOptions.ConsumerGroup}-{instance}", logger);
        _restorer = new StateRestorer(kafka, options, telemetry, logger);
        _filter = new BatchFilter(filterer);
        _context = new TaskContext(options, new ChunkLimits(maxMessageBytes));
    }

    /// <summary>Input partitions this instance processes now (restored).</summary>
    public IReadOnlyCollection<int> AssignedPartitions => [.. _tasks.Keys];

    public int StreamCount => _context.StreamCount;

    /// <summary>Checks the topics, initialises the transactional producer and subscribes.</summary>
    public void Start()
    {
        var input = RequirePartitions(_options.InputTopic, PipelineTopics.InputSetting);
        var output = RequirePartitions(_options.OutputTopic, PipelineTopics.OutputSetting);
        RequirePartitions(_options.DlqTopic, PipelineTopics.DeadLetterSetting);
        var changelog = RequirePartitions(_options.ChangelogTopic, PipelineTopics.ChangelogSetting);
        if (changelog < input)
        {
            throw new InvalidOperationException(
                $"{PipelineTopics.ChangelogSetting} '{_options.ChangelogTopic}' has {changelog} partitions but {PipelineTopics.InputSetting} '{_options.InputTopic}' has {input}: the changelog must be co-partitioned with the input (fix: signal-pipeline kafka topics ensure).");
        }

        _collector.Initialize();
        _writer = new BatchWriter(_collector, _options, _context.Limits, _telemetry, output);
        _consumer = _kafka.GetConsumer(ProcessorOptions.ConsumerGroup, new RebalanceHandlers(OnAssigned, r => OnRevoked(r, "revoked"), r => OnRevoked(r, "lost")));
        _consumer.Subscribe(_options.InputTopic);
        _health.Running(true);
        _logger.LogInformation("Filtering {Input} -> {Output} with {Algorithm} ({Mode}), transactional id {TransactionalId}; largest chunk accepted: {F64} f64 / {F32} f32 samples (message.max.bytes {Max})",
            _options.InputTopic, _options.OutputTopic, _options.Algorithm, _options.Mode, _collector.TransactionalId,
            _context.Limits.MaxSamples(SignalPipeline.Messages.SampleFormat.Float64), _context.Limits.MaxSamples(SignalPipeline.Messages.SampleFormat.Float32), _context.Limits.MaxMessageBytes);
    }

    /// <summary>Runs until cancelled, then leaves the group (so the partitions move at once).</summary>
    public void Run(CancellationToken stoppingToken)
    {
        Start();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                Step(stoppingToken);
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

            _logger.LogInformation("Stopped; left the consumer group");
        }
    }

    /// <summary>One iteration: restore what is pending, collect, process, commit (or roll back and back off).</summary>
    public void Step(CancellationToken stoppingToken)
    {
        RestorePending(stoppingToken);
        Collect(stoppingToken);
        _collector.Poll();
        var now = NowMs;
        var maintain = now - _lastMaintenanceMs >= 1000;
        if (_batch.Records.Count > 0 || maintain)
        {
            ProcessBatch(now, maintain, stoppingToken);
        }

        _health.Pending(_tasks.Values.Select(t => t.State.PendingSinceMs).Append(_restoring.Count > 0 ? _restoringSinceMs : null).Min());
    }

    private long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private void ProcessBatch(long now, bool maintain, CancellationToken stoppingToken)
    {
        var batch = _batch;
        try
        {
            foreach (var record in batch.Records)
            {
                if (_tasks.TryGetValue(record.Partition.Value, out var task) && record.Offset.Value >= task.State.NextInputOffset)
                {
                    task.Accept(record, batch, now);
                }
            }

            if (maintain)
            {
                _lastMaintenanceMs = now;
                foreach (var task in _tasks.Values)
                {
                    task.Maintain(batch, now);
                }
            }

            if (batch.LastOffsets.Count == 0 && batch.Touched.Count == 0 && batch.Evicted.Count == 0)
            {
                return;
            }

            using var activity = ProcessorTelemetry.StartBatch(_options.InputTopic, batch.Records);
            _filter.FilterAsync(batch.Work, stoppingToken).GetAwaiter().GetResult();
            _writer!.Commit(batch, _tasks, _consumer!.ConsumerGroupMetadata, ProcessorTelemetry.TraceContext(activity), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            _context.StreamCount = _tasks.Values.Sum(t => t.State.Count);
            _health.BatchCommitted();
            _telemetry.Committed(batch, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), _context.StreamCount);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested || e is not OperationCanceledException)
        {
            Recover(batch, e, stoppingToken);
        }
        finally
        {
            batch.Clear();
        }
    }

    /// <summary>Abort, roll the touched streams back, rewind their partitions, and wait before the retry.</summary>
    private void Recover(Batch batch, Exception cause, CancellationToken stoppingToken)
    {
        var failure = RecordCollector.Classify(cause);
        _health.BatchFailed($"{cause.GetType().Name}: {cause.Message}");
        _telemetry.Aborted(failure);
        _logger.LogError(cause, "Batch failed ({Failure}, attempt {Attempt}); aborting, rolling back {Streams} streams and rewinding partitions [{Partitions}]",
            failure, _health.ConsecutiveFailures, batch.Touched.Count, string.Join(",", batch.LastOffsets.Keys.Order()));
        try
        {
            _collector.Abort(failure);
        }
        catch (KafkaException e)
        {
            _logger.LogError(e, "Recreating the transactional producer failed; retrying after the backoff");
        }

        BatchWriter.RollBack(batch, _tasks);
        _context.StreamCount = _tasks.Values.Sum(t => t.State.Count);
        foreach (var p in batch.LastOffsets.Keys)
        {
            if (_tasks.TryGetValue(p, out var task))
            {
                Seek(p, task.State.NextInputOffset);
            }
        }

        var backoff = Math.Min(_options.MaxRetryBackoffMs, _options.RetryBackoffMs * Math.Pow(2, Math.Min(_health.ConsecutiveFailures - 1, 20)));
        stoppingToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(backoff));
    }

    private void Collect(CancellationToken stoppingToken)
    {
        var consumer = _consumer!;
        var clock = Stopwatch.StartNew();
        while (_batch.Records.Count < _options.MaxBatchRecords && _batch.InputBytes < _options.MaxBatchBytes && !stoppingToken.IsCancellationRequested)
        {
            // Wait up to 100 ms for a first record; then take what is already fetched (group commit), waiting up to
            // LingerMs for more, never past MaxBatchMs.
            var wait = _batch.Records.Count == 0 ? 100 : Math.Min(_options.LingerMs, _options.MaxBatchMs - (int)clock.ElapsedMilliseconds);
            if (_batch.Records.Count > 0 && clock.ElapsedMilliseconds >= _options.MaxBatchMs)
            {
                return;
            }

            ConsumeResult<byte[], byte[]>? record;
            try
            {
                record = consumer.Consume(Math.Max(wait, 0));
            }
            catch (ConsumeException e) when (!e.Error.IsFatal)
            {
                _logger.LogWarning("Consume error: {Reason}", e.Error.Reason);
                continue;
            }

            if (record is null)
            {
                return;
            }

            if (!record.IsPartitionEOF)
            {
                _batch.Records.Add(record);
                _batch.InputBytes += record.Message.Value?.Length ?? 0;
            }
        }
    }

    private IEnumerable<TopicPartitionOffset> OnAssigned(IReadOnlyList<TopicPartition> assigned)
    {
        // State kept from a revocation is reused only for partitions that came back in this assignment.
        foreach (var p in _retained.Keys.Where(p => assigned.All(a => a.Partition.Value != p)).ToList())
        {
            _retained.Remove(p);
        }

        foreach (var tp in assigned)
        {
            _restoring.Add(tp.Partition.Value);
        }

        _restoringSinceMs = NowMs;
        _logger.LogInformation("Assigned partitions [{Partitions}]: restoring", string.Join(",", assigned.Select(a => a.Partition.Value).Order()));
        return assigned.Select(tp => new TopicPartitionOffset(tp, Offset.Unset));
    }

    private void OnRevoked(IReadOnlyList<TopicPartitionOffset> revoked, string why)
    {
        foreach (var tpo in revoked)
        {
            var p = tpo.Partition.Value;
            _restoring.Remove(p);
            if (_tasks.Remove(p, out var task))
            {
                _retained[p] = task.State;
            }
        }

        // Records read but not processed: the next owner reads them again from the checkpoint.
        _batch.Records.RemoveAll(r => !_tasks.ContainsKey(r.Partition.Value));
        _context.StreamCount = _tasks.Values.Sum(t => t.State.Count);
        _logger.LogInformation("Partitions [{Partitions}] {Why}", string.Join(",", revoked.Select(r => r.Partition.Value).Order()), why);
    }

    private void RestorePending(CancellationToken stoppingToken)
    {
        if (_restoring.Count == 0)
        {
            return;
        }

        var partitions = _restoring.ToList();
        var topicPartitions = partitions.Select(p => new TopicPartition(_options.InputTopic, p)).ToList();
        var clock = Stopwatch.StartNew();
        try
        {
            _consumer!.Pause(topicPartitions);

            // KIP-447: a read_committed consumer's committed offsets wait while an earlier owner's transaction that sent
            // offsets for these partitions is still open; its changelog records then are committed or aborted before we read.
            var committed = _consumer.Committed(topicPartitions, TimeSpan.FromSeconds(_options.RestoreStallSeconds))
                .Where(c => c.Offset.Value >= 0).ToDictionary(c => c.Partition.Value, c => c.Offset.Value);
            var restored = _restorer.Restore(partitions, _retained, committed, p => _writer!.OutputPartition(p), NowMs);
            foreach (var (p, state) in restored)
            {
                _retained.Remove(p);
                _tasks[p] = new PartitionTask(state, _context);
                Seek(p, state.NextInputOffset);
            }

            _restoring.Clear();
            _context.StreamCount = _tasks.Values.Sum(t => t.State.Count);
            _consumer.Resume(topicPartitions);
            _telemetry.Restored(clock.Elapsed, restored.Count, _context.StreamCount);
            _logger.LogInformation(
                "Assigned partitions [{Partitions}]: restored {Streams} streams in {Milliseconds} ms; resuming at {Offsets}",
                string.Join(",", partitions), restored.Values.Sum(s => s.Count), clock.ElapsedMilliseconds,
                string.Join(", ", restored.Values.OrderBy(s => s.Partition).Select(s => $"{s.Partition}@{(s.NextInputOffset < 0 ? "beginning" : s.NextInputOffset)}")));
        }
        catch (Exception e) when (e is KafkaException or RestoreStalledException)
        {
            _telemetry.RestoreFailed();
            _logger.LogError(e, "Restoring partitions [{Partitions}] failed; they wait and the restore is tried again", string.Join(",", partitions));
            stoppingToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Min(1000, _options.MaxRetryBackoffMs)));
        }
    }

    private void Seek(int partition, long offset)
    {
        try
        {
            _consumer!.Seek(new TopicPartitionOffset(_options.InputTopic, partition, offset < 0 ? Offset.Beginning : new Offset(offset)));
        }
        catch (KafkaException e)
        {
            // Not assigned any more (a rebalance took it): the next owner starts from the checkpoint anyway.
            _logger.LogDebug(e, "Seek of partition {Partition} skipped", partition);
        }
    }

    private int RequirePartitions(string topic, string setting)
        => _kafka.PartitionCount(topic) ?? throw new InvalidOperationException(
            $"{setting}: topic '{topic}' does not exist. Create the pipeline's topics with: signal-pipeline kafka topics ensure");

    public void Dispose()
    {
        _collector.Dispose();
        _consumer?.Dispose();
        _restorer.Dispose();
    }
}
