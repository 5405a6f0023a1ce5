using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;
using SignalPipeline.Messages;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Streaming;

/// <summary>How a failed transaction must be answered (librdkafka's transactional error classes).</summary>
public enum TransactionFailure
{
    /// <summary>Abort and retry the batch (abortable, retriable, a timeout, a transport failure of the filterer).</summary>
    Abortable,

    /// <summary>
    /// The producer is unusable (fenced, a fatal error) or a commit's outcome is unknown: recreate it (which completes or
    /// aborts what the coordinator holds) and restore every owned partition from the changelog, the only sure account.
    /// </summary>
    Fatal,
}

/// <summary>
/// Owns the transactional producer (Kafka Streams' RecordCollector): begins, writes outputs, dead letters and
/// changelog records, sends the input offsets with the group's metadata (so a zombie's commit is refused after a
/// rebalance, KIP-447), commits or aborts. Tracks, from delivery reports, where the output and changelog partitions end.
/// </summary>
public sealed class RecordCollector(IKafkaSupplier kafka, ProcessorOptions options, string transactionalId, ILogger logger, TimeProvider time, Action<int>? abandonedChanged = null) : IDisposable
{
    private static readonly TimeSpan TransactionTimeout = TimeSpan.FromSeconds(30);
    private const int CommitAttempts = 5;

    /// <summary>
    /// A call of the commit still running this long is taken as one that never returns: every call is given
    /// <see cref="TransactionTimeout"/>, so twice that is past any answer librdkafka still gives.
    /// </summary>
    public static readonly TimeSpan HungCallAfter = 2 * TransactionTimeout;

    /// <summary>
    /// Producers left to a hung call that an instance holds at once at most (each keeps its librdkafka threads and buffers
    /// until its call returns, then it is disposed); past it a hung call is no longer given up, and <c>/alive</c> restarts
    /// the process.
    /// </summary>
    public const int MaxAbandonedProducers = 3;

    private readonly Dictionary<int, long> _outputEnds = [];
    private readonly Dictionary<int, long> _changelogEnds = [];
    private readonly List<(int Partition, byte[] Key, byte[]? Value)> _deferredChangelog = [];
    private IProducer<byte[], byte[]>? _producer;
    private bool _inTransaction;
    private volatile Error? _deliveryFailure;
    private volatile bool _deliveryPurged;
    private volatile TopicRefusal? _refusedByTopic;
    private Action<DeliveryReport<byte[], byte[]>>? _trackOutput, _trackChangelog, _trackDeadLetter;
    private TopicPartition[] _outputPartitions = [];

    // Producers left to a call that has not returned: not disposed while it runs (their destroy would wait for that call),
    // and kept referenced (a finalizer would destroy them and block the finalizer thread); the thread of the call disposes
    // its producer when the call returns (ReleaseIfAbandoned).
    private readonly List<IProducer<byte[], byte[]>> _abandoned = [];
    private int _generation;
    private long _callStartedMs = long.MaxValue;

    public string TransactionalId => transactionalId;

    /// <summary>
    /// Creates the producer and registers the transactional id, fencing any earlier producer with the same id. Run on
    /// another thread by a recovery (<see cref="Abort"/>): once the stream thread gave it up (<see cref="AbandonProducer"/>),
    /// the producer it makes is never the collector's.
    /// </summary>
    public void Initialize()
    {
        var generation = Volatile.Read(ref _generation);
        _producer?.Dispose();
        var producer = kafka.GetProducer(transactionalId);
        lock (_abandoned)
        {
            if (_generation != generation)
            {
                producer.Dispose();
                return;
            }

            _producer = producer;
            _inTransaction = false;
        }

        try
        {
            producer.InitTransactions(TransactionTimeout);
        }
        finally
        {
            ReleaseIfAbandoned(producer, generation);
        }
    }

    /// <summary>Serves the producer's logs, errors and statistics (no background poll thread, see docs/processor.md).</summary>
    public void Poll() => _producer?.Poll(TimeSpan.Zero);

    public void Begin()
    {
        _deliveryFailure = null;
        _deliveryPurged = false;
        _refusedByTopic = null;
        _deferredChangelog.Clear();
        Producer.BeginTransaction();
        _inTransaction = true;
    }

    public void Output(int partition, Message<byte[], byte[]> message)
        => Produce(OutputTopicPartition(partition), message, _trackOutput ??= report => Track(_outputEnds, report));

    /// <summary>The output topic's partition, made once (an object per output record was 0.8 % of the bytes allocated at 64 samples).</summary>
    private TopicPartition OutputTopicPartition(int partition)
    {
        if (partition >= _outputPartitions.Length)
        {
            Array.Resize(ref _outputPartitions, Math.Max(partition + 1, 2 * _outputPartitions.Length));
        }

        return _outputPartitions[partition] ??= new TopicPartition(options.OutputTopic, partition);
    }

    /// <summary>
    /// Produces one record of the transaction; while librdkafka's queue is full (<c>queue.buffering.max.messages</c>,
    /// 100,000 by default, or <c>.kbytes</c>) it waits for room, as Java's producer blocks up to <c>max.block.ms</c>:
    /// a transaction may hold more records than the queue (a <c>Processor:MaxBatchRecords</c> of up to 1,000,000, the
    /// chunks a restore releases, evictions), and failing it would retry the same transaction forever. Room comes as the
    /// queued records are delivered, their reports served here. Past <see cref="TransactionTimeout"/> without room the
    /// queue error is thrown (the batch is aborted and retried).
    /// </summary>
    private void Produce(TopicPartition partition, Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>> report)
    {
        var producer = Producer;
        long? deadline = null;
        while (true)
        {
            try
            {
                producer.Produce(partition, message, report);
                return;
            }
            catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
            {
                deadline ??= Environment.TickCount64 + (long)TransactionTimeout.TotalMilliseconds;
                if (Environment.TickCount64 > deadline)
                {
                    throw;
                }

                Interlocked.Increment(ref _queueFullWaits);
                producer.Poll(TimeSpan.FromMilliseconds(50));
            }
        }
    }

    /// <summary>Times a record waited for room in the producer's queue (for tests and diagnostics).</summary>
    public long QueueFullWaits => Interlocked.Read(ref _queueFullWaits);

    private long _queueFullWaits;

    /// <summary>
    /// A changelog record. With <c>Processor:DevBrokerCompensation</c> it is held until <see cref="Commit"/> has delivered
    /// the transaction's outputs and dead letters: librdkafka sends each partition's batch on its own, so a checkpoint
    /// could reach the broker before the outputs it covers, and a kill or a fatal error then lose the outputs. A real
    /// cluster hides that checkpoint (its transaction never commits); the dev broker shows it, and a restore from it
    /// would resume past chunks never written. The wait runs on the commit's thread, beside the next batch's collection.
    /// </summary>
    public void Changelog(int partition, byte[] key, byte[]? value)
    {
        if (options.DevBrokerCompensation)
        {
            _deferredChangelog.Add((partition, key, value));
            return;
        }

        ProduceChangelog(partition, key, value);
    }

    /// <summary>A changelog record produced at once, also with <c>Processor:DevBrokerCompensation</c>: only for one that is true whenever it lands.</summary>
    public void ChangelogNow(int partition, byte[] key, byte[] value) => ProduceChangelog(partition, key, value);

    private void ProduceChangelog(int partition, byte[] key, byte[]? value)
        => Produce(new TopicPartition(options.ChangelogTopic, partition), new Message<byte[], byte[]> { Key = key, Value = value! },
            _trackChangelog ??= report => Track(_changelogEnds, report));

    /// <summary>The original key, value and headers plus the <c>dlq-*</c> headers, less what cannot fit one message (<see cref="ChunkLimits.Fitted"/>).</summary>
    public void DeadLetter(DeadLetter letter, ChunkLimits limits)
    {
        letter = limits.Fitted(letter);
        var headers = new Headers();
        foreach (var (key, value) in letter.Headers)
        {
            // The dlq-* names are the dead-letter topic's own: a record's own would pass for a replay marker
            // (dlq-replayed) or come before the real reason, which readers take first.
            if (!key.StartsWith(MessageHeaders.DeadLetterPrefix, StringComparison.Ordinal))
            {
                headers.Add(key, value);
            }
        }

        MessageHeaders.AddDeadLetter(headers, letter.Code, letter.Reason, letter.Source);
        Produce(new TopicPartition(options.DlqTopic, Partition.Any), new Message<byte[], byte[]> { Key = letter.Key!, Value = letter.Value!, Headers = headers }, _trackDeadLetter ??= report => Track(null, report));
    }

    /// <summary>
    /// Sends the offsets with the group's metadata, delivers every record (on the dev broker the outputs first, then the
    /// held changelog records), then commits; throws what the client threw.
    /// A record the broker refused fails the commit: librdkafka can commit a transaction one of whose records failed
    /// delivery after an earlier abort (measured on the dev broker, docs/kafka.md "Fault injection").
    /// </summary>
    public void Commit(IEnumerable<TopicPartitionOffset> offsets, IConsumerGroupMetadata group)
    {
        // Captured: once the stream thread abandons this commit (HasHungCall), the collector's producer is another one,
        // and this thread, should its call ever return, must touch neither it nor the next transaction's records.
        var producer = Producer;
        var generation = _generation;
        try
        {
            CommitOn(producer, generation, offsets, group);
        }
        catch when (Volatile.Read(ref _generation) != generation)
        {
            // Given up while a call hung (HasHungCall): that call has now returned or thrown, so its producer can go.
            ReleaseIfAbandoned(producer, generation);
            throw;
        }
    }

    private void CommitOn(IProducer<byte[], byte[]> producer, int generation, IEnumerable<TopicPartitionOffset> offsets, IConsumerGroupMetadata group)
    {
        // The offsets go first: their two coordinator round trips overlap the records' deliveries instead of following
        // them (issue 14). They are part of the transaction either way, visible only if it commits.
        CallStarted();
        producer.SendOffsetsToTransaction(offsets, group, TransactionTimeout);
        CallEnded(generation);
        if (_deferredChangelog.Count > 0)
        {
            Deliver(producer, generation);
            foreach (var (partition, key, value) in _deferredChangelog)
            {
                ProduceChangelog(partition, key, value);
            }

            _deferredChangelog.Clear();
        }

        Deliver(producer, generation);

        // A retriable commit failure (e.g. the broker restarting) may have reached the coordinator: the same commit is
        // retried, never aborted, since an abort could not undo a commit that went through (librdkafka's documented
        // answer; measured with the broker down: the retry commits the same transaction, docs/kafka.md).
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                CallStarted();
                producer.CommitTransaction(TransactionTimeout);
                CallEnded(generation);
                break;
            }
            catch (KafkaRetriableException e) when (attempt < CommitAttempts)
            {
                CallEnded(generation);
                logger.LogWarning("Commit failed ({Reason}); retrying the same commit (attempt {Attempt} of {Attempts})", e.Error.Reason, attempt + 1, CommitAttempts);
                Thread.Sleep(TimeSpan.FromMilliseconds(Math.Min(options.MaxRetryBackoffMs, options.RetryBackoffMs << Math.Min(attempt, 10))));
            }
            catch (KafkaRetriableException e)
            {
                throw new CommitOutcomeUnknownException($"The commit failed {CommitAttempts} times ({e.Error.Reason}); whether it went through is unknown.", e);
            }
        }

        _inTransaction = false;
    }

    /// <summary>
    /// True when a call of the running commit has lasted <see cref="HungCallAfter"/> (librdkafka's
    /// <c>send_offsets_to_transaction</c> can ignore its timeout, confluentinc/librdkafka#5456: seen on the dev broker after
    /// every broker was down for 30 s). The stream thread then gives the commit up: <see cref="AbandonProducer"/>.
    /// </summary>
    public bool HasHungCall(out TimeSpan running)
    {
        var started = Volatile.Read(ref _callStartedMs);
        running = started == long.MaxValue ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Max(0, NowMs - started));
        return running >= HungCallAfter && AbandonedProducers < MaxAbandonedProducers;
    }

    /// <summary>Producers left to calls that have not returned yet (at most <see cref="MaxAbandonedProducers"/>).</summary>
    public int AbandonedProducers
    {
        get
        {
            lock (_abandoned)
            {
                return _abandoned.Count;
            }
        }
    }

    /// <summary>
    /// Leaves the producer to its hung call and forgets it, so that the fatal recovery's <see cref="Initialize"/> makes a new
    /// one with the same transactional id: its <c>InitTransactions</c> aborts (or completes) what the coordinator holds
    /// and fences the old one, whose transaction, should its call ever return, can then neither commit nor be mistaken
    /// for the new one's.
    /// </summary>
    public void AbandonProducer()
    {
        lock (_abandoned)
        {
            if (_producer is { } hung)
            {
                _abandoned.Add(hung);
                abandonedChanged?.Invoke(1);
            }

            _producer = null;
            Interlocked.Increment(ref _generation);
            Volatile.Write(ref _callStartedMs, long.MaxValue);
            _inTransaction = false;
        }
    }

    /// <summary>
    /// On the thread of a call of <paramref name="producer"/> begun in <paramref name="generation"/>, once it has returned
    /// or thrown: if the stream thread gave the producer up meanwhile (<see cref="AbandonProducer"/>), disposes it and
    /// frees its place under <see cref="MaxAbandonedProducers"/>; true if so.
    /// </summary>
    private bool ReleaseIfAbandoned(IProducer<byte[], byte[]> producer, int generation)
    {
        lock (_abandoned)
        {
            if (Volatile.Read(ref _generation) == generation || !_abandoned.Remove(producer))
            {
                return false;
            }

            abandonedChanged?.Invoke(-1);
        }

        logger.LogInformation("A Kafka call given up on a transactional producer has returned; that producer is disposed ({Held} still left to hung calls)",
            AbandonedProducers);
        producer.Dispose();
        return true;
    }

    private long NowMs => time.GetUtcNow().ToUnixTimeMilliseconds();

    private void CallStarted() => Volatile.Write(ref _callStartedMs, NowMs);

    private void CallEnded(int generation)
    {
        if (Volatile.Read(ref _generation) != generation)
        {
            throw new CommitAbandonedException();
        }

        Volatile.Write(ref _callStartedMs, long.MaxValue);
    }

    /// <summary>Waits until every record produced so far is delivered; throws an abortable error if one was refused.</summary>
    private void Deliver(IProducer<byte[], byte[]> producer, int generation)
    {
        CallStarted();
        var undelivered = producer.Flush(TransactionTimeout);
        CallEnded(generation);
        if (undelivered > 0)
        {
            throw new KafkaTxnRequiresAbortException(new Error(ErrorCode.Local_TimedOut, "records still undelivered when the transaction timeout ran out"));
        }

        if (_deliveryFailure is { } failure)
        {
            // The report's own code: what the stream thread decides on (an ACL refused, a topic's limit).
            throw new KafkaTxnRequiresAbortException(failure);
        }

        if (_deliveryPurged)
        {
            // librdkafka purges what is not delivered when the transaction fails on an abortable error (its
            // rd_kafka_txn_set_abortable_error): the error itself is the next transactional call's (TransactionError).
            throw new KafkaTxnRequiresAbortException(new Error(ErrorCode.Local_PurgeQueue, "records of the transaction were purged by the client: the transaction had failed"));
        }
    }

    /// <summary>
    /// What failed the transaction, when <paramref name="cause"/> is only a consequence of it: on an abortable error (a
    /// partition it could not add to the transaction, offsets refused) librdkafka purges the records not yet delivered
    /// (their reports say <c>Local_PurgeQueue</c> or <c>Local_PurgeInflight</c>) and refuses new ones (<c>Local_State</c>),
    /// and gives the error itself only to the next transactional call. So one is made: in that state
    /// <c>SendOffsetsToTransaction</c> returns the error at once, without a request (and offsets sent by a transaction
    /// that is not in it go with its abort). Returns <paramref name="cause"/> when it is no such consequence, or when the
    /// call does not fail.
    /// </summary>
    public Exception TransactionError(Exception cause, IEnumerable<TopicPartitionOffset> offsets, IConsumerGroupMetadata? group)
    {
        if (cause is not KafkaException { Error.Code: ErrorCode.Local_State or ErrorCode.Local_PurgeQueue or ErrorCode.Local_PurgeInflight }
            || !_inTransaction || _producer is not { } producer || group is null)
        {
            return cause;
        }

        try
        {
            producer.SendOffsetsToTransaction(offsets, group, TimeSpan.FromSeconds(5));
            return cause;
        }
        catch (KafkaException e)
        {
            return e;
        }
    }

    /// <summary>
    /// Aborts the open transaction; recreates the producer when the abort itself fails or the producer is fenced. The
    /// stream thread may give it up meanwhile (a stop, <see cref="AbandonProducer"/>): then it does nothing more.
    /// </summary>
    public void Abort(TransactionFailure failure)
    {
        var generation = Volatile.Read(ref _generation);
        if (failure == TransactionFailure.Abortable && _inTransaction)
        {
            var producer = Producer;
            try
            {
                producer.AbortTransaction(TransactionTimeout);
                _inTransaction = false;
                return;
            }
            catch (KafkaException e) when (Volatile.Read(ref _generation) == generation)
            {
                logger.LogWarning(e, "Abort failed; recreating the transactional producer");
            }
            finally
            {
                ReleaseIfAbandoned(producer, generation);
            }
        }

        if (Volatile.Read(ref _generation) == generation)
        {
            Initialize();
        }
    }

    /// <summary>
    /// Aborts the open transaction if Kafka answers within <paramref name="timeout"/>: a stop's last step, so nothing is
    /// retried and the producer is not recreated.
    /// </summary>
    public void TryAbort(TimeSpan timeout)
    {
        if (!_inTransaction || _producer is null || timeout <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            _producer.AbortTransaction(timeout);
            _inTransaction = false;
        }
        catch (KafkaException e)
        {
            logger.LogWarning("Aborting the transaction failed ({Reason}); the broker aborts it after the transaction timeout ({Timeout} s)",
                e.Error.Reason, TransactionTimeout.TotalSeconds);
        }
    }

    /// <summary>
    /// A record of the current transaction the broker refused for what its topic takes, if any: <c>MSG_SIZE_TOO_LARGE</c>
    /// (its batch is larger than the topic's <c>max.message.bytes</c>), <c>RECORD_LIST_TOO_LARGE</c> (than its
    /// <c>segment.bytes</c>), <c>INVALID_RECORD</c> (a record without a key
    /// for a compacted topic) or an ACL's refusal (<see cref="KafkaAccess.IsRefusal"/>); null again at the next <see cref="Begin"/>.
    /// </summary>
    public TopicRefusal? RefusedByTopic => _refusedByTopic;

    /// <summary>Where the output partition ended after the last delivered record (0 if none seen).</summary>
    public long OutputEnd(int partition) => Read(_outputEnds, partition);

    public long ChangelogEnd(int partition) => Read(_changelogEnds, partition);

    public static TransactionFailure Classify(Exception e) => e switch
    {
        CommitOutcomeUnknownException or CommitHungException => TransactionFailure.Fatal,
        KafkaTxnRequiresAbortException => TransactionFailure.Abortable,
        KafkaException { Error.IsFatal: true } => TransactionFailure.Fatal,
        KafkaException { Error.Code: ErrorCode.Local_Fenced or ErrorCode.ProducerFenced or ErrorCode.InvalidProducerEpoch or ErrorCode.TransactionalIdAuthorizationFailed } => TransactionFailure.Fatal,
        _ => TransactionFailure.Abortable,
    };

    private IProducer<byte[], byte[]> Producer => _producer ?? throw new InvalidOperationException("The producer is not initialised.");

    private void Track(Dictionary<int, long>? ends, DeliveryReport<byte[], byte[]> report)
    {
        if (report.Error.IsError)
        {
            if (report.Error.Code is ErrorCode.Local_PurgeQueue or ErrorCode.Local_PurgeInflight)
            {
                _deliveryPurged = true;
                return;
            }

            _deliveryFailure ??= new Error(report.Error.Code, $"a record of the transaction was refused: {report.TopicPartition}: {report.Error.Code} {report.Error.Reason}");
            if (report.Error.Code is ErrorCode.MsgSizeTooLarge or ErrorCode.RecordListTooLarge or ErrorCode.InvalidRecord || KafkaAccess.IsRefusal(report.Error.Code))
            {
                _refusedByTopic ??= new(report.Topic, report.Error.Code, $"{report.Error.Code} {report.Error.Reason}");
            }

            return;
        }

        if (ends is null)
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

/// <summary>A record the broker refused for what <paramref name="Topic"/> takes: the error's code and reason.</summary>
public sealed record TopicRefusal(string Topic, ErrorCode Code, string Error);

/// <summary>A commit kept failing with retriable errors: it may or may not have gone through.</summary>
public sealed class CommitOutcomeUnknownException(string message, Exception inner) : Exception(message, inner);

/// <summary>A call of the commit did not return (<see cref="RecordCollector.HasHungCall"/>): its outcome is unknown and its producer was left to it.</summary>
public sealed class CommitHungException(string message) : Exception(message);

/// <summary>Thrown on an abandoned commit's own thread if its hung call ever returns; nobody waits for it any more.</summary>
public sealed class CommitAbandonedException() : Exception("The commit was given up while one of its calls hung; its producer was replaced.");
