using System.Buffers;
using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using FilterProcessor.Filtering;
using FilterProcessor.Sequencing;
using FilterProcessor.State;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace FilterProcessor;

/// <summary>
/// The read-process-write loop: consumes a batch of <c>sample-input</c> records, orders and filters them per stream,
/// and writes outputs, dead letters, state checkpoints and input offsets in one Kafka transaction.
/// One instance per consumer-group member; not thread-safe (runs on one thread, <see cref="Run"/>).
/// </summary>
public sealed class StreamProcessor : IDisposable
{
    private const int MaxLinksPerBatch = 32;
    private static readonly TimeSpan TransactionTimeout = TimeSpan.FromSeconds(30);

    private readonly KafkaClientFactory _kafka;
    private readonly ProcessorOptions _options;
    private readonly IChunkFilterer _filterer;
    private readonly ProcessorTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly string _transactionalId;
    private readonly DecodeLimits _limits;
    private readonly Dictionary<int, PartitionState> _partitions = [];
    private readonly List<ConsumeResult<byte[], byte[]>> _batch = [];
    private readonly Dictionary<int, long> _deliveredOutputEnd = [];
    private readonly StateRestorer _restorer;

    // Per-chunk sample storage, reused from batch to batch so the loop allocates little more than Kafka's own copies:
    // decode buffers (the input samples) and filtered arrays held until the batch is produced.
    private readonly Stack<SampleBuffer> _freeBuffers = [];
    private readonly List<SampleBuffer> _batchBuffers = [];
    private readonly List<double[]> _batchArrays = [];
    private IConsumer<byte[], byte[]>? _consumer;
    private IProducer<byte[], byte[]>? _producer;
    private int _outputPartitions;
    private volatile bool _running;

    // Where the loop's time goes, for the rate log line: waiting/consuming, decoding+ordering+filtering, producing, committing.
    private readonly Stopwatch _collectTime = new();
    private readonly Stopwatch _processTime = new();
    private readonly Stopwatch _produceTime = new();
    private readonly Stopwatch _commitTime = new();
    private long _batches;

    public StreamProcessor(KafkaClientFactory kafka, ProcessorOptions options, IChunkFilterer filterer, ProcessorTelemetry telemetry, ILogger logger, string? instanceId = null)
    {
        _kafka = kafka;
        _options = options;
        _filterer = filterer;
        _telemetry = telemetry;
        _logger = logger;
        _limits = new DecodeLimits { MaxSamples = options.MaxChunkSamples };
        _transactionalId = $"{ProcessorOptions.ConsumerGroup}-{instanceId ?? $"{Environment.MachineName}-{Environment.ProcessId}"}-{Guid.NewGuid():N}";
        _restorer = new StateRestorer(kafka, options, logger);
    }

    /// <summary>Becomes true once the producer is initialised and the consumer subscribed.</summary>
    public bool IsRunning => _running;

    /// <summary>Input partitions this instance owns now.</summary>
    public IReadOnlyCollection<int> AssignedPartitions => [.. _partitions.Keys];

    /// <summary>Runs until <paramref name="stoppingToken"/> is cancelled, then commits what it read and leaves the group.</summary>
    public void Run(CancellationToken stoppingToken)
    {
        _producer = CreateProducer();
        _outputPartitions = PartitionCount(_options.OutputTopic);
        var changelogPartitions = PartitionCount(_options.ChangelogTopic);
        var inputPartitions = PartitionCount(_options.InputTopic);
        if (changelogPartitions < inputPartitions)
        {
            throw new InvalidOperationException(
                $"CHANGELOG_TOPIC '{_options.ChangelogTopic}' has {changelogPartitions} partitions but INPUT_TOPIC '{_options.InputTopic}' has {inputPartitions}: the changelog must be co-partitioned with the input.");
        }

        _consumer = _kafka.CreateConsumer<byte[], byte[]>(ProcessorOptions.ConsumerGroup, config =>
        {
            config.IsolationLevel = IsolationLevel.ReadCommitted;
            config.EnableAutoCommit = false;
            config.EnableAutoOffsetStore = false;
            config.AutoOffsetReset = AutoOffsetReset.Earliest;
        }, builder => builder
            .SetPartitionsAssignedHandler((_, assigned) => OnAssigned(assigned))
            .SetPartitionsRevokedHandler((_, revoked) => Drop(revoked.Select(r => r.Partition.Value), "revoked"))
            .SetPartitionsLostHandler((_, lost) => Drop(lost.Select(r => r.Partition.Value), "lost")));

        _consumer.Subscribe(_options.InputTopic);
        _running = true;
        _logger.LogInformation(
            "Filtering {Input} -> {Output} with {Algorithm} ({Mode}), transactional id {TransactionalId}",
            _options.InputTopic, _options.OutputTopic, _options.Algorithm, _options.Mode, _transactionalId);

        var rateClock = Stopwatch.StartNew();
        long lastSamples = 0, lastChunks = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                _collectTime.Start();
                Collect(stoppingToken);
                _collectTime.Stop();

                // The producer has no background poll thread (see CreateProducer): serve its logs, errors and
                // statistics here; CommitTransaction serves the delivery reports.
                _producer.Poll(TimeSpan.Zero);
                if (_batch.Count > 0)
                {
                    ProcessOrRecover();
                }

                if (_options.RateLogSeconds > 0 && rateClock.Elapsed.TotalSeconds >= _options.RateLogSeconds)
                {
                    var samples = Interlocked.Read(ref _telemetry.Samples);
                    var chunks = Interlocked.Read(ref _telemetry.Chunks);
                    var seconds = rateClock.Elapsed.TotalSeconds;
                    _logger.LogInformation(
                        "Rate: {SamplesPerSecond:F0} samples/s, {ChunksPerSecond:F0} chunks/s over {Seconds:F1} s; partitions [{Partitions}]; {Batches} batches, time in collect/process/produce/commit {Collect}/{Process}/{Produce}/{Commit} ms; totals: {Chunks} chunks, {DeadLetters} dead letters, {Duplicates} duplicates, {Gaps} gaps, {Replayed} replayed",
                        (samples - lastSamples) / seconds, (chunks - lastChunks) / seconds, seconds, string.Join(",", _partitions.Keys.Order()),
                        _batches, _collectTime.ElapsedMilliseconds, _processTime.ElapsedMilliseconds, _produceTime.ElapsedMilliseconds, _commitTime.ElapsedMilliseconds,
                        chunks, _telemetry.DeadLetters, _telemetry.Duplicates, _telemetry.Gaps, _telemetry.Replayed);
                    _batches = 0;
                    _collectTime.Reset();
                    _processTime.Reset();
                    _produceTime.Reset();
                    _commitTime.Reset();
                    lastSamples = samples;
                    lastChunks = chunks;
                    rateClock.Restart();
                }
            }
        }
        finally
        {
            _running = false;
            try
            {
                // Leaves the group now so the partitions move to the other replicas without waiting for a session timeout.
                _consumer.Close();
            }
            catch (KafkaException e)
            {
                _logger.LogWarning(e, "Closing the consumer failed");
            }

            _logger.LogInformation("Stopped; left the consumer group");
        }
    }

    private void Collect(CancellationToken stoppingToken)
    {
        var consumer = _consumer!;
        var clock = Stopwatch.StartNew();
        long bytes = 0;
        while (_batch.Count < _options.MaxBatchRecords && bytes < _options.MaxBatchBytes && !stoppingToken.IsCancellationRequested)
        {
            // Wait up to 100 ms for the first record; then take what the consumer has already fetched, waiting up to
            // LingerMs for more, never past the batch window. With LingerMs = 0 the batch is whatever arrived while the
            // previous transaction committed (group commit): small and fast when idle, large when busy.
            var wait = _batch.Count == 0
                ? 100
                : Math.Min(_options.LingerMs, _options.MaxBatchMs - (int)clock.ElapsedMilliseconds);
            if (_batch.Count > 0 && clock.ElapsedMilliseconds >= _options.MaxBatchMs)
            {
                break;
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
                // Nothing more within the linger: close the batch (or, with none, go round the loop again).
                return;
            }

            if (!record.IsPartitionEOF)
            {
                _batch.Add(record);
                bytes += record.Message.Value?.Length ?? 0;
            }
        }
    }

    private void ProcessOrRecover()
    {
        try
        {
            ProcessBatch();
        }
        catch (Exception e)
        {
            // Whatever failed (broker, remote service, a bug), nothing of this transaction is kept: abort, reload the
            // committed state and read the batch again. The pause keeps a persistent failure from spinning.
            _logger.LogError(e, "Transaction failed; aborting, reloading state and rewinding the input");
            _telemetry.Aborted();
            Recover(e);
            Thread.Sleep(TimeSpan.FromSeconds(1));
        }
        finally
        {
            _batch.Clear();

            // Producing copied every sample into librdkafka: the decode buffers and filtered arrays can be reused.
            foreach (var buffer in _batchBuffers)
            {
                _freeBuffers.Push(buffer);
            }

            foreach (var array in _batchArrays)
            {
                ArrayPool<double>.Shared.Return(array);
            }

            _batchBuffers.Clear();
            _batchArrays.Clear();
            _processTime.Stop();
            _produceTime.Stop();
            _commitTime.Stop();
        }
    }

    private void ProcessBatch()
    {
        var producer = _producer!;
        var links = new List<ActivityLink>();
        foreach (var record in _batch)
        {
            if (links.Count >= MaxLinksPerBatch)
            {
                break;
            }

            var context = KafkaTracing.ExtractTraceContext(record.Message.Headers);
            if (context != default)
            {
                links.Add(new ActivityLink(context));
            }
        }

        using var activity = ProcessorTelemetry.ActivitySource.StartActivity(
            ActivityKind.Consumer, default, [new("messaging.system", "kafka"), new("messaging.destination.name", _options.InputTopic), new("messaging.batch.message_count", _batch.Count)],
            links, name: $"process {_options.InputTopic}");
        _telemetry.Batch(_batch.Count);

        _batches++;
        _processTime.Start();
        producer.BeginTransaction();
        var touched = new Dictionary<int, long>();
        var work = new List<FilterWork>();
        var outputs = new List<(PartitionState Partition, StreamState Stream, ChunkEnvelope Chunk, Memory<double> Filtered)>();
        var released = new List<ChunkEnvelope>();
        var counters = new SequenceCounters();
        var deadLetters = 0;

        foreach (var record in _batch)
        {
            var p = record.Partition.Value;
            if (!_partitions.TryGetValue(p, out var partition) || record.Offset.Value < partition.NextInputOffset)
            {
                continue;
            }

            touched[p] = record.Offset.Value;
            var message = record.Message;
            var buffer = _freeBuffers.TryPop(out var free) ? free : new SampleBuffer();
            if (!SampleCodec.TryDecodeSampleChunk(message.Key ?? [], message.Value ?? [], message.Headers, out var chunk, out var error, buffer, _limits))
            {
                _freeBuffers.Push(buffer);
                ProduceDeadLetter(record, error);
                deadLetters++;
                continue;
            }

            if (!partition.Streams.TryGetValue(chunk.StreamId, out var stream))
            {
                partition.Streams[chunk.StreamId] = stream = new StreamState(chunk.StreamId, new StreamSequence<ChunkEnvelope>(), new StreamFilterHandle(null));
            }

            var envelope = new ChunkEnvelope(chunk.Seq, message.Value ?? [], message.Headers, chunk.TimestampMs ?? message.Timestamp.UnixTimestampMs, chunk);
            released.Clear();
            if (stream.Sequence.Offer(chunk.Seq, envelope, _options.MaxHeldChunks, released, ref counters) != SequenceOutcome.Duplicate)
            {
                stream.Dirty = true;
            }

            if (released.Contains(envelope))
            {
                _batchBuffers.Add(buffer);
            }
            else
            {
                // Held for a missing seq, or a duplicate: its samples live in a buffer this batch recycles, so a held
                // chunk is decoded again from its value when released.
                envelope.Decoded = null;
                _freeBuffers.Push(buffer);
            }

            foreach (var ready in released)
            {
                ready.Decoded ??= Redecode(ready, stream.StreamId);
                var length = ready.Decoded.Signal.Length;
                var filtered = ArrayPool<double>.Shared.Rent(length);
                _batchArrays.Add(filtered);
                work.Add(new FilterWork(stream.Filter, ready.Decoded.Signal, filtered.AsMemory(0, length)));
                outputs.Add((partition, stream, ready, filtered.AsMemory(0, length)));
            }
        }

        _filterer.FilterAsync(work, CancellationToken.None).GetAwaiter().GetResult();
        _processTime.Stop();
        _produceTime.Start();

        var processedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // The batch span's context, formatted once and shared by every output record of the batch.
        var traceContext = new Headers();
        if (activity is not null)
        {
            KafkaTracing.InjectTraceContext(traceContext, activity.Context);
        }
        var written = new List<(int Samples, long TimestampMs)>(outputs.Count);
        foreach (var (partition, stream, chunk, filtered) in outputs)
        {
            if (partition.AlreadyOutput.TryGetValue(stream.StreamId, out var highest) && chunk.Seq <= highest)
            {
                _telemetry.ReplayedChunk();
                continue;
            }

            var decoded = chunk.Decoded!;
            var message = SampleCodec.ToMessage(new FilteredChunk(stream.StreamId, chunk.Seq, _options.Algorithm, decoded.Signal, filtered, chunk.TimestampMs, processedMs)
            {
                Format = decoded.Format,

                // JSON in, JSON out: the raw samples' text is copied from the input instead of formatted again.
                SignalJson = decoded.SignalJsonRange is { } range ? chunk.Value.AsMemory(range) : default,
            });
            foreach (var header in traceContext)
            {
                message.Headers.Add(header.Key, header.GetValueBytes());
            }

            var output = OutputPartition(partition.Partition);
            producer.Produce(new TopicPartition(_options.OutputTopic, output), message, report => OnOutputDelivered(output, report));
            written.Add((filtered.Length, chunk.TimestampMs));
        }

        foreach (var (p, lastOffset) in touched)
        {
            var partition = _partitions[p];
            foreach (var stream in partition.Streams.Values)
            {
                if (stream.Dirty)
                {
                    producer.Produce(new TopicPartition(_options.ChangelogTopic, p), new Message<byte[], byte[]>
                    {
                        Key = Encoding.UTF8.GetBytes(stream.StreamId),
                        Value = stream.ToCheckpoint().Serialize(),
                    });
                }
            }

            // Written last: a partition checkpoint that is visible means every record of its transaction is too.
            producer.Produce(new TopicPartition(_options.ChangelogTopic, p), new Message<byte[], byte[]>
            {
                Key = [],
                Value = new PartitionCheckpoint(lastOffset + 1, partition.OutputEnd).Serialize(),
            });
        }

        _produceTime.Stop();
        _commitTime.Start();
        producer.SendOffsetsToTransaction(
            touched.Select(t => new TopicPartitionOffset(_options.InputTopic, t.Key, t.Value + 1)),
            _consumer!.ConsumerGroupMetadata, TransactionTimeout);
        producer.CommitTransaction(TransactionTimeout);
        _commitTime.Stop();

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var (p, lastOffset) in touched)
        {
            var partition = _partitions[p];
            partition.NextInputOffset = lastOffset + 1;
            lock (_deliveredOutputEnd)
            {
                partition.OutputEnd = Math.Max(partition.OutputEnd, _deliveredOutputEnd.GetValueOrDefault(OutputPartition(p)));
            }

            foreach (var stream in partition.Streams.Values)
            {
                stream.Dirty = false;
            }
        }

        foreach (var (samples, timestampMs) in written)
        {
            _telemetry.Filtered(samples, now - timestampMs);
        }

        _telemetry.Sequencing(counters.Duplicates, counters.Gaps, counters.SkippedSeqs);
        activity?.SetTag("signalpipeline.chunks", written.Count);
        activity?.SetTag("signalpipeline.dead_letters", deadLetters);
    }

    private void ProduceDeadLetter(ConsumeResult<byte[], byte[]> record, DecodeError error)
    {
        var headers = new Headers();
        foreach (var header in record.Message.Headers ?? [])
        {
            headers.Add(header.Key, header.GetValueBytes());
        }

        MessageHeaders.AddDeadLetter(headers, error, record.TopicPartitionOffset);
        _producer!.Produce(_options.DlqTopic, new Message<byte[], byte[]> { Key = record.Message.Key, Value = record.Message.Value, Headers = headers });
        _telemetry.DeadLetter(error.CodeName);
        _logger.LogDebug("Dead letter from {Source}: {Error}", record.TopicPartitionOffset, error);
    }

    private SampleChunk Redecode(ChunkEnvelope chunk, string streamId)
        => SampleCodec.TryDecodeSampleChunk(Encoding.UTF8.GetBytes(streamId), chunk.Value, chunk.KafkaHeaders(), out var decoded, out var error, limits: _limits)
            ? decoded
            : throw new InvalidOperationException($"A held chunk of stream '{streamId}' seq {chunk.Seq} no longer decodes: {error}");

    private void OnOutputDelivered(int outputPartition, DeliveryReport<byte[], byte[]> report)
    {
        if (report.Error.IsError)
        {
            return;
        }

        lock (_deliveredOutputEnd)
        {
            _deliveredOutputEnd[outputPartition] = Math.Max(_deliveredOutputEnd.GetValueOrDefault(outputPartition), report.Offset.Value + 1);
        }
    }

    /// <summary>After a failed transaction: abort it, reload every assigned partition's state and seek back to its checkpoint.</summary>
    private void Recover(Exception cause)
    {
        try
        {
            _producer!.AbortTransaction(TransactionTimeout);
        }
        catch (KafkaException e)
        {
            _logger.LogWarning(e, "Abort failed ({Cause}); recreating the transactional producer", cause.GetType().Name);
            _producer!.Dispose();
            _producer = CreateProducer();
        }

        var assigned = _partitions.Keys.ToList();
        foreach (var tpo in OnAssigned(assigned.Select(p => new TopicPartition(_options.InputTopic, p)).ToList()))
        {
            _consumer!.Seek(tpo);
        }
    }

    private IEnumerable<TopicPartitionOffset> OnAssigned(List<TopicPartition> assigned)
    {
        var clock = Stopwatch.StartNew();
        var restored = _restorer.Restore([.. assigned.Select(a => a.Partition.Value)], OutputPartition);
        foreach (var (p, state) in restored)
        {
            _partitions[p] = state;
        }

        _telemetry.Restored(clock.Elapsed, restored.Count);
        _logger.LogInformation(
            "Assigned partitions [{Partitions}]: restored {Streams} streams in {Milliseconds} ms; resuming at {Offsets}",
            string.Join(",", restored.Keys.Order()), restored.Values.Sum(s => s.Streams.Count), clock.ElapsedMilliseconds,
            string.Join(", ", restored.Values.OrderBy(s => s.Partition).Select(s => $"{s.Partition}@{(s.NextInputOffset < 0 ? "beginning" : s.NextInputOffset)}")));
        return [.. restored.Values.Select(s => new TopicPartitionOffset(_options.InputTopic, s.Partition, s.NextInputOffset < 0 ? Offset.Beginning : new Offset(s.NextInputOffset)))];
    }

    private void Drop(IEnumerable<int> partitions, string why)
    {
        var dropped = partitions.ToList();
        foreach (var p in dropped)
        {
            _partitions.Remove(p);
        }

        // Records read but not yet processed: the next owner reads them again from the checkpoint.
        _batch.RemoveAll(r => dropped.Contains(r.Partition.Value));
        _logger.LogInformation("Partitions [{Partitions}] {Why}: state dropped", string.Join(",", dropped.Order()), why);
    }

    private int OutputPartition(int inputPartition) => inputPartition % _outputPartitions;

    private IProducer<byte[], byte[]> CreateProducer()
    {
        var producer = _kafka.CreateProducer<byte[], byte[]>(config =>
        {
            config.TransactionalId = _transactionalId;
            config.EnableIdempotence = true;
            config.TransactionTimeoutMs ??= 30_000;
            config.LingerMs ??= 2;

            // With .NET's background poll thread serving the delivery reports, librdkafka's flush inside
            // CommitTransaction finds its queue empty and re-checks only every 10 ms: a commit took ~11 ms on the dev
            // broker. Polled from this loop instead, the flush wakes on each report: ~1.7 ms (docs/processor.md).
            config.EnableBackgroundPoll = false;
        });
        producer.InitTransactions(TransactionTimeout);
        return producer;
    }

    private int PartitionCount(string topic)
    {
        using var admin = new DependentAdminClientBuilder(_producer!.Handle).Build();
        var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(15));
        var info = metadata.Topics.SingleOrDefault(t => t.Topic == topic);
        return info is { Error.IsError: false } && info.Partitions.Count > 0
            ? info.Partitions.Count
            : throw new InvalidOperationException($"Topic '{topic}' does not exist ({info?.Error.Reason ?? "no metadata"}); the broker must create it.");
    }

    public void Dispose()
    {
        _producer?.Dispose();
        _consumer?.Dispose();
        _restorer.Dispose();
    }
}
