using System.IO.Hashing;
using System.Text;
using Confluent.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>
/// Confluent.Kafka's producer over an <see cref="InMemoryKafkaCluster"/>, configured as the processor's: transactional
/// when given an id, and without the background poll thread, so delivery reports run on the caller's thread in
/// <c>Poll</c>, <c>Flush</c> and <c>CommitTransaction</c> (which flushes first, as librdkafka's does).
/// Errors as librdkafka reports them: a record over <c>message.max.bytes</c> (key + value + headers) throws
/// <see cref="ProduceException{TKey,TValue}"/> with <c>MsgSizeTooLarge</c> at once; a refused record (injected) gets
/// an error delivery report and leaves the transaction needing an abort; a fenced producer throws a fatal
/// <c>Local_Fenced</c> <see cref="KafkaException"/> from every later call; offsets from a stale group member throw
/// <see cref="KafkaTxnRequiresAbortException"/>. Without a partition, a keyed record goes where librdkafka's default
/// partitioner puts it (CRC-32 of the key); a keyless one round-robin (librdkafka: random).
/// <c>Dispose</c> leaves an open transaction open (a killed process): the next <c>InitTransactions</c> with the id aborts it.
/// Records held by <see cref="KafkaFaults.HoldUntilFlush"/> reach the cluster at the next flush; an abort or <c>Dispose</c>
/// drops them (librdkafka purges them; their reports are not served here).
/// One transactional call at a time, as in librdkafka (<c>rd_kafka_txn_curr_api_begin</c>): a call made while another
/// one runs (e.g. stalled by a fault) throws <c>Local_Conflict</c>.
/// </summary>
internal sealed class InMemoryProducer(InMemoryKafkaCluster cluster, string? transactionalId, string name) : IProducer<byte[], byte[]>
{
    private readonly Queue<Action> _reports = new();
    private readonly List<Action> _unsent = [];
    private OpenTransaction? _transaction;
    private Error? _fatal;
    private Error? _abortable;
    private bool _initialized;
    private bool _disposed;
    private int _roundRobin;
    private string? _transactionalCall;

    private object Gate => cluster.Gate;

    public string Name => name;

    public Handle Handle => throw new NotSupportedException("The in-memory producer has no librdkafka handle.");

    public void Produce(string topic, Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>>? deliveryHandler = null)
        => Produce(new TopicPartition(topic, Partition.Any), message, deliveryHandler);

    public void Produce(TopicPartition topicPartition, Message<byte[], byte[]> message, Action<DeliveryReport<byte[], byte[]>>? deliveryHandler = null)
    {
        Hit(FaultPoint.Produce, topicPartition.Topic);
        var size = Size(message);
        if (size > cluster.MaxMessageBytes)
        {
            throw Refused(new Error(ErrorCode.MsgSizeTooLarge, $"Message size {size} exceeds message.max.bytes {cluster.MaxMessageBytes}"), topicPartition, message);
        }

        lock (Gate)
        {
            try
            {
                ThrowIfUnusable();
            }
            catch (KafkaException e)
            {
                throw Refused(e.Error, topicPartition, message);
            }

            if (transactionalId is not null && (_transaction is null || _abortable is not null))
            {
                throw Refused(new Error(ErrorCode.Local_State, _abortable is null ? "No transaction begun" : $"The transaction needs an abort: {_abortable}"), topicPartition, message);
            }

            var partitions = cluster.PartitionCount(topicPartition.Topic)
                ?? throw Refused(new Error(ErrorCode.Local_UnknownTopic, $"Unknown topic '{topicPartition.Topic}'"), topicPartition, message);
            var tp = topicPartition.Partition == Partition.Any ? new TopicPartition(topicPartition.Topic, Partitioner(message.Key, partitions)) : topicPartition;
            if (tp.Partition.Value >= partitions)
            {
                throw Refused(new Error(ErrorCode.Local_UnknownPartition, $"Unknown partition {tp}"), tp, message);
            }

            // librdkafka copies the record when it is produced (Confluent.Kafka passes RD_KAFKA_MSG_F_COPY): the caller may
            // write its arrays again once Produce returns (the processor's output values do), so the cluster keeps a copy.
            message = Copied(message);
            var report = new DeliveryReport<byte[], byte[]> { Message = message, TopicPartitionOffset = new TopicPartitionOffset(tp, Offset.Unset) };
            var error = cluster.Refusal(tp.Topic, size, message.Key) ?? cluster.Faults.DeliveryError(new FaultContext(FaultPoint.Delivery, name, transactionalId, tp.Topic));
            if (error is not null)
            {
                (report.Error, report.Status) = (error, PersistenceStatus.NotPersisted);
                _abortable ??= _transaction is null ? null : error;
            }
            else
            {
                var transaction = _transaction;
                void Send()
                {
                    if (transaction is not null)
                    {
                        cluster.Register(transaction);
                    }

                    var offset = cluster.Append(tp, message, transaction);
                    (report.Error, report.Status, report.TopicPartitionOffset) = (new Error(ErrorCode.NoError), PersistenceStatus.Persisted, new TopicPartitionOffset(tp, offset));
                    if (deliveryHandler is not null)
                    {
                        _reports.Enqueue(() => deliveryHandler(report));
                    }
                }

                if (cluster.Faults.Held(new FaultContext(FaultPoint.Send, name, transactionalId, tp.Topic)))
                {
                    _unsent.Add(Send);
                }
                else
                {
                    Send();
                }

                return;
            }

            if (deliveryHandler is not null)
            {
                _reports.Enqueue(() => deliveryHandler(report));
            }
        }
    }

    private static Message<byte[], byte[]> Copied(Message<byte[], byte[]> message)
    {
        Headers? headers = null;
        if (message.Headers is { } original)
        {
            headers = [];
            foreach (var header in original)
            {
                headers.Add(header.Key, header.GetValueBytes() is { } bytes ? (byte[])bytes.Clone() : null);
            }
        }

        return new Message<byte[], byte[]>
        {
            Key = message.Key is { } key ? (byte[])key.Clone() : null!,
            Value = message.Value is { } value ? (byte[])value.Clone() : null!,
            Headers = headers!,
            Timestamp = message.Timestamp,
        };
    }

    public Task<DeliveryResult<byte[], byte[]>> ProduceAsync(string topic, Message<byte[], byte[]> message, CancellationToken cancellationToken = default)
        => ProduceAsync(new TopicPartition(topic, Partition.Any), message, cancellationToken);

    /// <summary>Completes at the next Poll/Flush (no background poll thread), as the real one would here.</summary>
    public Task<DeliveryResult<byte[], byte[]>> ProduceAsync(TopicPartition topicPartition, Message<byte[], byte[]> message, CancellationToken cancellationToken = default)
    {
        var delivered = new TaskCompletionSource<DeliveryResult<byte[], byte[]>>(TaskCreationOptions.RunContinuationsAsynchronously);
        Produce(topicPartition, message, report =>
        {
            if (report.Error.IsError)
            {
                delivered.SetException(new ProduceException<byte[], byte[]>(report.Error, report));
            }
            else
            {
                delivered.SetResult(report);
            }
        });
        return delivered.Task.WaitAsync(cancellationToken);
    }

    public int Poll(TimeSpan timeout) => ServeReports();

    public int Flush(TimeSpan timeout)
    {
        SendHeld();
        ServeReports();
        return 0;
    }

    public void Flush(CancellationToken cancellationToken = default)
    {
        SendHeld();
        ServeReports();
    }

    public void InitTransactions(TimeSpan timeout)
    {
        using var call = TransactionalCall("init_transactions");
        Hit(FaultPoint.InitTransactions);
        lock (Gate)
        {
            ThrowIfUnusable();
            if (transactionalId is null || _initialized)
            {
                throw new KafkaException(new Error(ErrorCode.Local_State, transactionalId is null ? "No transactional.id configured" : "Transactions already initialized"));
            }

            cluster.InitProducerId(transactionalId, this);
            _initialized = true;
        }
    }

    public void BeginTransaction()
    {
        using var call = TransactionalCall("begin_transaction");
        Hit(FaultPoint.BeginTransaction);
        lock (Gate)
        {
            ThrowIfUnusable();
            if (!_initialized || _transaction is not null)
            {
                throw new KafkaException(new Error(ErrorCode.Local_State, _initialized ? "A transaction is already in progress" : "InitTransactions was not called"));
            }

            _transaction = new OpenTransaction();
        }
    }

    public void SendOffsetsToTransaction(IEnumerable<TopicPartitionOffset> offsets, IConsumerGroupMetadata groupMetadata, TimeSpan timeout)
    {
        using var call = TransactionalCall("send_offsets_to_transaction");
        Hit(FaultPoint.SendOffsets);
        lock (Gate)
        {
            var transaction = RequireTransaction();
            var metadata = groupMetadata as InMemoryGroupMetadata
                ?? throw new ArgumentException("Group metadata must come from an in-memory consumer", nameof(groupMetadata));
            if (cluster.Group(metadata.GroupId).Validate(metadata.MemberId, metadata.Generation) is { } error)
            {
                _abortable = error;
                throw new KafkaTxnRequiresAbortException(error);
            }

            cluster.Register(transaction);
            foreach (var tpo in offsets)
            {
                transaction.Offsets[(metadata.GroupId, tpo.TopicPartition)] = tpo.Offset.Value;
            }
        }
    }

    public void CommitTransaction() => CommitTransaction(Timeout.InfiniteTimeSpan);

    public void CommitTransaction(TimeSpan timeout)
    {
        using var call = TransactionalCall("commit_transaction");
        Hit(FaultPoint.CommitTransaction);
        SendHeld();
        ServeReports();
        lock (Gate)
        {
            cluster.Complete(RequireTransaction(), commit: true);
            _transaction = null;
        }
    }

    public void AbortTransaction() => AbortTransaction(Timeout.InfiniteTimeSpan);

    public void AbortTransaction(TimeSpan timeout)
    {
        using var call = TransactionalCall("abort_transaction");
        Hit(FaultPoint.AbortTransaction);
        lock (Gate)
        {
            ThrowIfUnusable();
            cluster.Complete(_transaction ?? throw new KafkaException(new Error(ErrorCode.Local_State, "No transaction to abort")), commit: false);
            (_transaction, _abortable) = (null, null);
            _unsent.Clear();
        }
    }

    public int AddBrokers(string brokers) => throw new NotSupportedException();

    public void SetSaslCredentials(string username, string password) => throw new NotSupportedException();

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed
    {
        get
        {
            lock (Gate)
            {
                return _disposed;
            }
        }
    }

    /// <summary>A killed process: records held until a flush (<see cref="KafkaFaults.HoldUntilFlush"/>) never reach the broker.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            _disposed = true;
            _unsent.Clear();
        }
    }

    /// <summary>Under the lock, from the cluster: the id's coordinator aborts this producer's open transaction (it is being fenced).</summary>
    internal void AbortOpenTransaction()
    {
        if (_transaction is not null)
        {
            cluster.Complete(_transaction, commit: false);
        }
    }

    private OpenTransaction RequireTransaction()
    {
        ThrowIfUnusable();
        if (_abortable is not null)
        {
            throw new KafkaTxnRequiresAbortException(_abortable);
        }

        return _transaction ?? throw new KafkaException(new Error(ErrorCode.Local_State, "No transaction in progress"));
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_initialized && !cluster.OwnsTransactionalId(transactionalId!, this))
        {
            _fatal ??= new Error(ErrorCode.Local_Fenced, $"Producer '{transactionalId}' fenced by a newer instance", isFatal: true);
        }

        if (_fatal is not null)
        {
            throw new KafkaException(_fatal);
        }
    }

    /// <summary>Marks <paramref name="api"/> as the transactional call in progress until disposed; throws if another one is.</summary>
    private CallInProgress TransactionalCall(string api)
    {
        lock (Gate)
        {
            if (_transactionalCall is { } running)
            {
                throw new KafkaException(new Error(ErrorCode.Local_Conflict, $"Conflicting {running} API call is already in progress"));
            }

            _transactionalCall = api;
        }

        return new CallInProgress(this);
    }

    private readonly struct CallInProgress(InMemoryProducer producer) : IDisposable
    {
        public void Dispose()
        {
            lock (producer.Gate)
            {
                producer._transactionalCall = null;
            }
        }
    }

    /// <summary>An injected fault acts on the producer as the real error would: fatal ends it, abortable needs an abort.</summary>
    private void Hit(FaultPoint point, string? topic = null)
    {
        try
        {
            cluster.Faults.Hit(new FaultContext(point, name, transactionalId, topic));
        }
        catch (KafkaException e)
        {
            lock (Gate)
            {
                _fatal ??= e.Error.IsFatal ? e.Error : null;
                _abortable ??= e is KafkaTxnRequiresAbortException && _transaction is not null ? e.Error : null;
            }

            throw;
        }
    }

    /// <summary>The records held until a flush reach the broker, in the order they were produced.</summary>
    private void SendHeld()
    {
        lock (Gate)
        {
            _unsent.ForEach(send => send());
            _unsent.Clear();
        }
    }

    private int ServeReports()
    {
        var reports = Locked(() =>
        {
            var all = _reports.ToList();
            _reports.Clear();
            return all;
        });
        reports.ForEach(report => report());
        return reports.Count;
    }

    private int Partitioner(byte[]? key, int partitions)
        => key is { Length: > 0 } ? (int)(Crc32.HashToUInt32(key) % (uint)partitions) : _roundRobin++ % partitions;

    /// <summary>librdkafka's size check: key + value + headers as serialized (zigzag varint lengths).</summary>
    private static long Size(Message<byte[], byte[]> message)
    {
        static int Varint(long value)
        {
            var zigzag = (ulong)((value << 1) ^ (value >> 63));
            var bytes = 1;
            for (; zigzag >= 0x80; zigzag >>= 7)
            {
                bytes++;
            }

            return bytes;
        }

        long size = (message.Key?.Length ?? 0) + (message.Value?.Length ?? 0);
        foreach (var header in message.Headers ?? [])
        {
            var (key, value) = (Encoding.UTF8.GetByteCount(header.Key), header.GetValueBytes()?.Length ?? -1);
            size += Varint(key) + key + Varint(value) + Math.Max(value, 0);
        }

        return size;
    }

    private static ProduceException<byte[], byte[]> Refused(Error error, TopicPartition tp, Message<byte[], byte[]> message)
        => new(error, new DeliveryResult<byte[], byte[]> { Message = message, TopicPartitionOffset = new TopicPartitionOffset(tp, Offset.Unset), Status = PersistenceStatus.NotPersisted });

    private T Locked<T>(Func<T> body)
    {
        lock (Gate)
        {
            return body();
        }
    }
}
