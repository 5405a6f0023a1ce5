using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;
using FilterKafkaProcessor.Streaming;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace FilterKafkaProcessor.Config;

/// <summary>
/// Reads the compacted stream-config topic into a <see cref="StreamConfigTable"/>, all partitions, from the beginning,
/// then follows it (Kafka Streams' GlobalKTable). The stream thread starts only once the table has caught up with the
/// topic's end as of start, so no stream is ever filtered with the default for want of reading its entry.
/// </summary>
public sealed class StreamConfigReader(IKafkaSupplier kafka, ProcessorOptions options, StreamConfigTable table, ILogger logger) : IDisposable
{
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(15);
    private readonly Dictionary<int, long> _catchUpTo = [];
    private readonly RefusalWatch _refusals = new();
    private IConsumer<byte[], byte[]>? _consumer;

    /// <summary>The reader's <c>group.id</c> (assign-only: no group is joined, no offsets committed).</summary>
    public const string ConsumerGroup = ProcessorOptions.ConsumerGroup + "-stream-config";

    public StreamConfigTable Table => table;

    /// <summary>
    /// Kafka's refusal of the topic to this reader while it followed it (<see cref="Run"/> returned): the service stops
    /// with it, as it does when the refusal comes while catching up.
    /// </summary>
    public AccessRefusedException? Refused { get; private set; }

    /// <summary>Assigns every partition at its start and notes where "caught up" is.</summary>
    public void Start()
    {
        var topic = options.StreamConfigTopic;
        var partitions = kafka.PartitionCount(topic) ?? throw new InvalidOperationException(
            $"{PipelineTopics.StreamConfigSetting}: topic '{topic}' does not exist. Create the pipeline's topics with: signal-pipeline kafka topics ensure");
        _consumer = kafka.GetRestoreConsumer(ConsumerGroup, _refusals.Note);
        var starts = new List<TopicPartitionOffset>(partitions);
        for (var p = 0; p < partitions; p++)
        {
            var marks = _consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), QueryTimeout);
            starts.Add(new TopicPartitionOffset(topic, p, marks.Low));
            if (marks.High.Value > marks.Low.Value)
            {
                _catchUpTo[p] = marks.High.Value;
            }
        }

        _consumer.Assign(starts);
        CheckCaughtUp();
    }

    /// <summary>Applies what arrives within <paramref name="wait"/> (then what is already fetched); returns the records applied.</summary>
    public int Poll(TimeSpan wait)
    {
        var consumer = _consumer ?? throw new InvalidOperationException("Start the reader first.");
        var applied = 0;
        for (var record = consumer.Consume(wait); record is not null; record = consumer.Consume(TimeSpan.Zero))
        {
            _refusals.ThrowIfRefused(); // the topic's READ taken away shows in the error callback only
            if (!record.IsPartitionEOF)
            {
                if (!SampleCodec.TryReadStreamKey(record.Message.Key, out var streamId, out var problem))
                {
                    // No chunk can carry such a stream id (the codec refuses it): held, it would only take memory. Read with
                    // U+FFFD for its bad bytes, a key that is not UTF-8 would configure the stream named so, and two such keys
                    // would be one entry. Counted each; the 1st, 10th, 100th, ... logged (a writer of such keys must not fill the log).
                    var ignored = table.IgnoreKey();
                    if (RepeatedWarning.IsLogged(ignored))
                    {
                        logger.LogWarning("Stream-config record at {Source} is ignored: {Problem}, so it names no stream "
                            + "(records ignored so far: {Ignored}; the 1st, 10th, 100th, ... is logged)", Source(record), problem, ignored);
                    }
                }
                else
                {
                    var outcome = table.Apply(streamId, record.Partition.Value, record.Offset.Value, record.Message.Value);
                    if (outcome.NotKept)
                    {
                        WarnNotKept(streamId, Source(record));
                    }
                    else if (outcome.Entry is { Error: { } error } && RepeatedWarning.IsLogged(table.Refused))
                    {
                        // Counted each (stream_configs.refused{reason=invalid|too-large}); the 1st, 10th, 100th, ... logged.
                        logger.LogWarning("Stream-config record for {StreamId} at {Source} is refused: {Error}; the stream keeps its filter and its owner dead-letters "
                            + "the record (records refused so far: {Refused}; the 1st, 10th, 100th, ... is logged)",
                            streamId, Source(record), error, table.Refused);
                    }
                }

                applied++;
            }

            if (_catchUpTo.TryGetValue(record.Partition.Value, out var end) && (record.IsPartitionEOF || record.Offset.Value >= end - 1))
            {
                _catchUpTo.Remove(record.Partition.Value);
                CheckCaughtUp();
            }
        }

        _refusals.ThrowIfRefused();
        return applied;
    }

    /// <summary>
    /// Reads until caught up (the service's start). A broker failure is retried, as a restore is (a missing topic is not:
    /// it stops the service, nor is a refusal of the topic to its ACLs: <see cref="AccessRefusedException"/>); every <paramref name="warnEvery"/> without catching up is logged, naming the partitions behind.
    /// </summary>
    public void CatchUp(TimeSpan warnEvery, CancellationToken cancellationToken)
    {
        var warnAt = DateTime.UtcNow + warnEvery;
        while (!table.IsCaughtUp && !cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (_consumer is null)
                {
                    Start();
                }

                Poll(TimeSpan.FromMilliseconds(200));
            }
            catch (KafkaException e) when (KafkaAccess.IsRefusal(e.Error.Code))
            {
                throw AccessRefused(e.Error, "before processing");
            }
            catch (KafkaException e) when (!e.Error.IsFatal)
            {
                logger.LogWarning("Reading {Topic} failed ({Reason}); retrying", options.StreamConfigTopic, e.Error.Reason);
                _consumer?.Dispose();
                _consumer = null;
                _catchUpTo.Clear();
                cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            }

            if (DateTime.UtcNow > warnAt && !cancellationToken.IsCancellationRequested)
            {
                if (_catchUpTo.Count == 0)
                {
                    logger.LogWarning("Still waiting to read {Topic} before processing: Kafka has not answered yet", options.StreamConfigTopic);
                }
                else
                {
                    logger.LogWarning("Still reading {Topic} to its end before processing; partitions [{Partitions}] are behind",
                        options.StreamConfigTopic, string.Join(",", _catchUpTo.Keys.Order()));
                }

                warnAt = DateTime.UtcNow + warnEvery;
            }
        }
    }

    /// <summary>
    /// Follows the topic until cancelled (its own thread: the consumer is not shared), or until Kafka refuses it the topic
    /// (<see cref="Refused"/>): a table no longer followed would filter every stream with what it last read, unseen.
    /// </summary>
    public void Run(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                Poll(TimeSpan.FromMilliseconds(200));
            }
            catch (KafkaException e) when (KafkaAccess.IsRefusal(e.Error.Code))
            {
                Refused = AccessRefused(e.Error, "while following it");
                return;
            }
            catch (KafkaException e) when (!e.Error.IsFatal)
            {
                logger.LogWarning("Stream-config consume error: {Reason}", e.Error.Reason);
            }
        }
    }

    /// <summary>Where a record was read: the restore consumer leaves its topic out (<c>ConsumeResultFields</c>), the reader knows it.</summary>
    private TopicPartitionOffset Source(ConsumeResult<byte[], byte[]> record) => new(options.StreamConfigTopic, record.Partition, record.Offset);

    /// <summary>
    /// Logs the 1st, 10th, 100th, ... record not kept (each one is counted in
    /// <c>signalpipeline.processor.stream_configs.refused{reason=too-many-entries}</c>): a writer filling the topic with
    /// new streams must not fill the log too.
    /// </summary>
    private void WarnNotKept(string streamId, TopicPartitionOffset source)
    {
        var notKept = table.NotKept;
        if (RepeatedWarning.IsLogged(notKept))
        {
            logger.LogWarning("Stream-config record for {StreamId} at {Source} is not kept: this instance holds Processor:MaxStreamConfigs = {Max} entries, "
                + "so the stream runs the deployment default (records of streams without an entry not kept so far: {NotKept}; the 1st, 10th, 100th, ... is logged). "
                + "Remove entries no stream needs (signal-pipeline streams configure ID --reset) and write this one again, or raise Processor:MaxStreamConfigs",
                streamId, source, table.MaxEntries, notKept);
        }
    }

    private AccessRefusedException AccessRefused(Error error, string when)
        => AccessRefusedException.For($"reading the stream configs of topic '{options.StreamConfigTopic}' {when} failed with {error.Code} ({error.Reason})",
            $"READ on topic '{options.StreamConfigTopic}' ({PipelineTopics.StreamConfigSetting})");

    private void CheckCaughtUp()
    {
        if (_catchUpTo.Count == 0 && !table.IsCaughtUp)
        {
            if (table.NotKept > 0)
            {
                logger.LogWarning("Stream configs read: {Count} entries ({Refused} refused); {NotKept} records of streams without an entry were not kept, "
                    + "as the table held Processor:MaxStreamConfigs = {Max} entries: those streams run the deployment default",
                    table.Count, table.Refused, table.NotKept, table.MaxEntries);
            }
            else
            {
                logger.LogInformation("Stream configs read: {Count} entries ({Refused} refused)", table.Count, table.Refused);
            }

            table.MarkCaughtUp();
        }
    }

    public void Dispose() => _consumer?.Dispose();
}
