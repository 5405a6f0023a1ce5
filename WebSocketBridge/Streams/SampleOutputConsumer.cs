using Confluent.Kafka;
using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace WebSocketBridge.Streams;

/// <summary>
/// The Kafka loop: reads every partition of the output topic from its end (manual assignment, no consumer group to
/// share: every replica sees every stream and so can serve every client), committed transactions only, and hands each
/// chunk to its <see cref="LiveStream"/>. It never waits for a client: that is the frame pump's and the clients' job.
/// </summary>
public sealed class SampleOutputConsumer(
    KafkaClientFactory kafka,
    IOptions<BridgeOptions> options,
    LiveStreamRegistry streams,
    BridgeMetrics metrics,
    ConsumerReadiness readiness,
    ITopicPartitionSource partitionSource,
    TimeProvider time,
    ILogger<SampleOutputConsumer> logger) : BackgroundService
{
    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PartitionCheckInterval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RearmInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan OffsetsRetryFirst = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan OffsetsRetryMax = TimeSpan.FromSeconds(10);

    // Where the loop is in each partition: where it was assigned, then the offset after the last record read (or the
    // partition's end, when librdkafka reported it). Kept here because librdkafka's own position can be unset after a seek
    // until a record is read, so it cannot say where to seek again (RearmEnds) nor how far behind the loop is (Lag).
    private readonly Dictionary<TopicPartition, Offset> _positions = [];

    // Assigned partitions the last partition check's metadata did not list: let go only if the next check agrees.
    private HashSet<TopicPartition> _missingAtLastCheck = [];

    // librdkafka's consume call blocks; a dedicated thread keeps it off the thread pool the sockets use.
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => Task.Factory.StartNew(() => Run(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stoppingToken)
    {
        var topic = options.Value.Topic;
        try
        {
            // A group id is required by the client, but nothing is committed under it: a unique one keeps this replica's
            // reads invisible to everyone else (the factory ignores a group.id in Kafka:Client or Kafka:Consumer, with a
            // warning naming it).
            var groupId = $"websocket-bridge-{Environment.MachineName}-{Guid.NewGuid():N}";
            using var consumer = kafka.CreateConsumer<byte[], byte[]>(groupId, config =>
            {
                config.EnableAutoCommit = false;
                config.EnableAutoOffsetStore = false;
                config.IsolationLevel = IsolationLevel.ReadCommitted;
                config.AutoOffsetReset = AutoOffsetReset.Latest;
                // librdkafka prefetches up to 64 MiB by default, outside the GC's heap: in a 512Mi pod a bridge short of
                // CPU would hold that much of the topic in native memory. Kafka:Consumer:QueuedMaxMessagesKbytes wins.
                config.QueuedMaxMessagesKbytes ??= 16 * 1024;
                // A partition's end is how an idle topic shows a fetch answered (ConsumerReadiness).
                config.EnablePartitionEof = true;
            }, onError: error => readiness.FetchFailed($"{error.Code}: {error.Reason}"));

            var assigned = AssignAtEnd(consumer, topic, stoppingToken);
            if (assigned is null)
            {
                return;
            }

            Consume(consumer, topic, assigned, stoppingToken);
            consumer.Close();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            readiness.Fail(ex.Message);
            logger.LogCritical(ex, "The consumer of {Topic} stopped", topic);
            throw;
        }
    }

    /// <summary>
    /// Assigns every partition of <paramref name="topic"/> at its current end, waiting for the topic to exist and
    /// retrying a failed end-offset query (a leader moving, a broker briefly refusing ListOffsets): a transient error at
    /// start must not stop the bridge. Until assigned, <c>/health</c> is unready and says why.
    /// </summary>
    private List<TopicPartition>? AssignAtEnd(IConsumer<byte[], byte[]> consumer, string topic, CancellationToken stoppingToken)
    {
        var offsetsRetry = OffsetsRetryFirst;
        while (!stoppingToken.IsCancellationRequested)
        {
            var partitions = GetPartitions(consumer, topic);
            if (partitions.Count > 0)
            {
                List<TopicPartitionOffset> offsets;
                try
                {
                    offsets = [.. partitions.Select(tp => new TopicPartitionOffset(tp, consumer.QueryWatermarkOffsets(tp, MetadataTimeout).High))];
                }
                catch (KafkaException ex)
                {
                    readiness.Waiting($"the end offsets of '{topic}' could not be read ({ex.Error.Code}: {ex.Error.Reason})");
                    logger.LogWarning("Reading the end offsets of {Topic} failed ({Code}: {Reason}); retrying in {Seconds} s",
                        topic, ex.Error.Code, ex.Error.Reason, offsetsRetry.TotalSeconds);
                    stoppingToken.WaitHandle.WaitOne(offsetsRetry);
                    offsetsRetry = TimeSpan.FromTicks(Math.Min(offsetsRetry.Ticks * 2, OffsetsRetryMax.Ticks));
                    continue;
                }

                consumer.Assign(offsets);
                foreach (var offset in offsets)
                {
                    _positions[offset.TopicPartition] = offset.Offset;
                }

                readiness.Assigned(topic, partitions.Count);
                logger.LogInformation("Reading {Topic}: {Count} partitions from their end ({Offsets})",
                    topic, partitions.Count, string.Join(", ", offsets.Select(o => $"{o.Partition.Value}@{o.Offset.Value}")));
                return partitions;
            }

            readiness.Waiting($"topic '{topic}' has no partitions yet");
            logger.LogWarning("Topic {Topic} not found or without partitions; retrying", topic);
            stoppingToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
        }

        return null;
    }

    private void Consume(IConsumer<byte[], byte[]> consumer, string topic, List<TopicPartition> assigned, CancellationToken stoppingToken)
    {
        using var buffer = new SampleBuffer();
        // Chunks as large as the processor accepts (Bridge:MaxChunkSamples >= Processor:MaxChunkSamples) must reach the page.
        var limits = new DecodeLimits { MaxSamples = options.Value.MaxChunkSamples };
        var pollTimeout = TimeSpan.FromMilliseconds(100);
        var lastLagMs = 0L;
        var lastPartitionCheck = time.GetTimestamp();
        var undecodable = 0L;
        var lastRearm = time.GetTimestamp();

        while (!stoppingToken.IsCancellationRequested)
        {
            ConsumeResult<byte[], byte[]>? record;
            try
            {
                record = consumer.Consume(pollTimeout);
            }
            catch (ConsumeException ex)
            {
                readiness.FetchFailed($"{ex.Error.Code}: {ex.Error.Reason}");
                logger.LogWarning("Consume error on {Topic}: {Reason}", topic, ex.Error.Reason);
                continue;
            }

            if (record is not null)
            {
                readiness.FetchSucceeded();
                _positions[record.TopicPartition] = record.IsPartitionEOF ? record.Offset : record.Offset + 1;
            }
            else
            {
                readiness.Tick();
            }

            if (readiness.Erring && time.GetElapsedTime(lastRearm) >= RearmInterval)
            {
                lastRearm = time.GetTimestamp();
                RearmEnds(consumer, assigned);
            }

            var nowMs = time.GetUtcNow().ToUnixTimeMilliseconds();
            if (record is { IsPartitionEOF: false, Message: { } message })
            {
                if (SampleCodec.TryDecodeFilteredChunk(message.Key, message.Value, message.Headers, out var chunk, out var error, buffer, limits))
                {
                    if (streams.Append(chunk.StreamId, chunk.Seq, chunk.Algorithm, chunk.Signal.Span, chunk.FilteredSignal.Span, chunk.TimestampMs, chunk.ProcessedMs, nowMs) is { } overflowed)
                    {
                        metrics.ChunkConsumed(chunk.Signal.Length);
                        if (overflowed > 0)
                        {
                            metrics.SamplesOverflowed(overflowed);
                        }
                    }
                    else
                    {
                        metrics.StreamRefused();
                    }
                }
                else
                {
                    metrics.ChunkUndecodable(error.CodeName);
                    // The processor dead-letters bad input, so this is rare; log the first and then every 1000th.
                    if (undecodable++ % 1000 == 0)
                    {
                        logger.LogWarning("Skipped an undecodable record at {TopicPartitionOffset} ({Count} so far): {Error}",
                            record.TopicPartitionOffset, undecodable, error);
                    }
                }
            }

            if (nowMs - lastLagMs >= 1000)
            {
                metrics.SetConsumerLag(Lag(consumer, assigned));
                lastLagMs = nowMs;
            }

            if (time.GetElapsedTime(lastPartitionCheck) >= PartitionCheckInterval)
            {
                lastPartitionCheck = time.GetTimestamp();
                ReconcilePartitions(consumer, topic, assigned);
            }
        }
    }

    /// <summary>
    /// Seeks each partition to where the loop is in it (nothing skipped, nothing read twice), so librdkafka reports
    /// the partition's end again once a fetch is answered: after an error, an idle partition shows no other sign.
    /// </summary>
    private void RearmEnds(IConsumer<byte[], byte[]> consumer, List<TopicPartition> assigned)
    {
        foreach (var partition in assigned)
        {
            try
            {
                // Not consumer.Position: after the previous re-arm it can be unset until a record is read. Falling back to where
                // the partition was assigned then read every record since again (every broker down for a few seconds
                // replayed the topic to live clients); the loop's own position is exact.
                consumer.Seek(new TopicPartitionOffset(partition, _positions[partition]));
            }
            catch (KafkaException ex)
            {
                logger.LogDebug("Could not seek {Partition} to re-arm its end: {Reason}", partition, ex.Error.Reason);
            }
        }
    }

    /// <summary>
    /// Partitions added to the topic later are read from their beginning (all their data is new). Partitions it no longer
    /// has (the topic created again with fewer) are let go, so the health text and the lag count what is read; but only
    /// when two checks in a row do not list them: one broker's stale metadata may leave a partition out once, and a
    /// partition let go and listed again would be read from its beginning, its whole retention replayed to the clients.
    /// A topic metadata does not show (deleted, or the request failed) changes nothing: the fetch errors tell
    /// (ConsumerReadiness).
    /// </summary>
    private void ReconcilePartitions(IConsumer<byte[], byte[]> consumer, string topic, List<TopicPartition> assigned)
    {
        var current = GetPartitions(consumer, topic);
        if (current.Count == 0)
        {
            return;
        }

        var added = current.Except(assigned).ToList();
        var missing = assigned.Except(current).ToHashSet();
        List<TopicPartition> gone = [.. missing.Where(_missingAtLastCheck.Contains)];
        _missingAtLastCheck = missing;
        if (missing.Count > gone.Count)
        {
            logger.LogInformation("Topic {Topic} metadata lists {Count} partitions; still reading {Missing} until the next check agrees",
                topic, current.Count, string.Join(", ", missing.Except(gone).Select(tp => tp.Partition.Value)));
        }

        if (added.Count == 0 && gone.Count == 0)
        {
            return;
        }

        if (gone.Count > 0)
        {
            consumer.IncrementalUnassign(gone);
            foreach (var partition in gone)
            {
                _positions.Remove(partition);
            }

            assigned.RemoveAll(gone.Contains);
            _missingAtLastCheck.ExceptWith(gone);
            logger.LogInformation("Topic {Topic} has {Count} partitions now; no longer reading {Gone}", topic, current.Count,
                string.Join(", ", gone.Select(tp => tp.Partition.Value)));
        }

        if (added.Count > 0)
        {
            consumer.IncrementalAssign(added.Select(tp => new TopicPartitionOffset(tp, Offset.Beginning)));
            foreach (var partition in added)
            {
                _positions[partition] = Offset.Beginning;
            }

            assigned.AddRange(added);
            logger.LogInformation("Topic {Topic} grew to {Count} partitions; reading the new ones", topic, assigned.Count);
        }

        readiness.Assigned(topic, assigned.Count);
    }

    private List<TopicPartition> GetPartitions(IConsumer<byte[], byte[]> consumer, string topic) => partitionSource.Get(consumer.Handle, topic);

    /// <summary>High watermark minus position, summed over partitions, from what the client already knows (no broker call).</summary>
    private long Lag(IConsumer<byte[], byte[]> consumer, List<TopicPartition> assigned)
    {
        var lag = 0L;
        foreach (var partition in assigned)
        {
            var high = consumer.GetWatermarkOffsets(partition).High;
            // The loop's own position where it has one: librdkafka's is unset after an assignment or a seek until a record
            // is read (a partition's end does not set it), so after a re-arm the records the loop could not fetch yet
            // counted none. librdkafka's only where the loop has no offset yet (a new partition, assigned at its beginning).
            var own = _positions[partition];
            var position = own.Value >= 0 ? own : consumer.Position(partition);
            if (high != Offset.Unset && position != Offset.Unset && high > position)
            {
                lag += high - position;
            }
        }

        return lag;
    }
}
