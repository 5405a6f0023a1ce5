using Confluent.Kafka;
using FilterProcessor.Kafka;
using SignalPipeline.Messages;

namespace FilterProcessor.Streaming;

/// <summary>How a failed transaction must be answered (librdkafka's transactional error classes).</summary>
public enum TransactionFailure
{
    /// <summary>Abort and retry the batch (abortable, retriable, a timeout, a transport failure of the filterer).</summary>
    Abortable,

    /// <summary>The producer is unusable (fenced by a newer instance, a fatal error): recreate it, then retry.</summary>
    Fatal,
}

/// <summary>
/// Owns the transactional producer (Kafka Streams' RecordCollector): begins, writes outputs, dead letters and
/// changelog records, sends the input offsets with the group's metadata (so a zombie's commit is refused after a
/// rebalance, KIP-447), commits or aborts. Tracks, from delivery reports, where the output and changelog partitions end.
/// </summary>
public sealed class RecordCollector(IKafkaSupplier kafka, ProcessorOptions options, string transactionalId, ILogger logger) : IDisposable
{
    private static readonly TimeSpan TransactionTimeout = TimeSpan.FromSeconds(30);

    private readonly Dictionary<int, long> _outputEnds = [];
    private readonly Dictionary<int, long> _changelogEnds = [];
    private IProducer<byte[], byte[]>? _producer;
    private bool _inTransaction;

    public string TransactionalId => transactionalId;

    /// <summary>Creates the producer and registers the transactional id, fencing any earlier producer with the same id.</summary>
    public void Initialize()
    {
        _producer?.Dispose();
        _producer = kafka.GetProducer(transactionalId);
        _producer.InitTransactions(TransactionTimeout);
        _inTransaction = false;
    }

    /// <summary>Serves the producer's logs, errors and statistics (no background poll thread, see docs/processor.md).</summary>
    public void Poll() => _producer?.Poll(TimeSpan.Zero);

    public void Begin()
    {
        Producer.BeginTransaction();
        _inTransaction = true;
    }

    public void Output(int partition, Message<byte[], byte[]> message)
        => Producer.Produce(new TopicPartition(options.OutputTopic, partition), message, report => Track(_outputEnds, report));

    public void Changelog(int partition, byte[] key, byte[]? value)
        => Producer.Produce(new TopicPartition(options.ChangelogTopic, partition), new Message<byte[], byte[]> { Key = key, Value = value! },
            report => Track(_changelogEnds, report));

    /// <summary>The original key, value and headers plus the <c>dlq-*</c> headers; the value is left out if it cannot fit.</summary>
    public void DeadLetter(DeadLetter letter, ChunkLimits limits)
    {
        var headers = new Headers();
        foreach (var (key, value) in letter.Headers)
        {
            headers.Add(key, value);
        }

        var fits = limits.DeadLetterFits(letter);
        MessageHeaders.AddDeadLetter(headers, letter.Code, fits ? letter.Reason : $"{letter.Reason} (value of {letter.Value?.Length} bytes left out: too large for one message)", letter.Source);
        Producer.Produce(options.DlqTopic, new Message<byte[], byte[]> { Key = letter.Key!, Value = fits ? letter.Value! : null!, Headers = headers });
    }

    /// <summary>Sends the offsets with the group's metadata and commits; throws what the client threw.</summary>
    public void Commit(IEnumerable<TopicPartitionOffset> offsets, IConsumerGroupMetadata group)
    {
        Producer.SendOffsetsToTransaction(offsets, group, TransactionTimeout);
        Producer.CommitTransaction(TransactionTimeout);
        _inTransaction = false;
    }

    /// <summary>Aborts the open transaction; recreates the producer when the abort itself fails or the producer is fenced.</summary>
    public void Abort(TransactionFailure failure)
    {
        if (failure == TransactionFailure.Abortable && _inTransaction)
        {
            try
            {
                Producer.AbortTransaction(TransactionTimeout);
                _inTransaction = false;
                return;
            }
            catch (KafkaException e)
            {
                logger.LogWarning(e, "Abort failed; recreating the transactional producer");
            }
        }

        Initialize();
    }

    /// <summary>Where the output partition ended after the last delivered record (0 if none seen).</summary>
    public long OutputEnd(int partition) => Read(_outputEnds, partition);

    public long ChangelogEnd(int partition) => Read(_changelogEnds, partition);

    public static TransactionFailure Classify(Exception e) => e switch
    {
        KafkaTxnRequiresAbortException => TransactionFailure.Abortable,
        KafkaException { Error.IsFatal: true } => TransactionFailure.Fatal,
        KafkaException { Error.Code: ErrorCode.Local_Fenced or ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch or ErrorCode.TransactionalIdAuthorizationFailed } => TransactionFailure.Fatal,
        _ => TransactionFailure.Abortable,
    };

    private IProducer<byte[], byte[]> Producer => _producer ?? throw new InvalidOperationException("The producer is not initialised.");

    private static void Track(Dictionary<int, long> ends, DeliveryReport<byte[], byte[]> report)
    {
        if (report.Error.IsError)
        {
            return;
        }

        lock (ends)
        {
            ends[report.Partition.Value] = Math.Max(ends.GetValueOrDefault(report.Partition.Value), report.Offset.Value + 1);
        }
    }

    private static long Read(Dictionary<int, long> ends, int partition)
    {
        lock (ends)
        {
            return ends.GetValueOrDefault(partition);
        }
    }

    public void Dispose() => _producer?.Dispose();
}
