using Confluent.Kafka;
using FilterKafkaProcessor.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>
/// An in-memory Kafka cluster for unit tests of the stream processor (the role of Streamiz's MockCluster and Kafka's
/// MockProducer/MockConsumer), behaving like a real cluster where the dev broker (librdkafka's mock) does not:
/// <list type="bullet">
/// <item>Partition logs with offsets from 0. A transaction's records take offsets when produced; a read_committed reader
/// sees them only after the commit and never sees aborted ones; each commit or abort writes a control record per
/// partition, which takes an offset (so the high watermark is one past the last data record) and is never delivered.
/// The last stable offset (LSO) is the first offset of the oldest open transaction on the partition; read_committed
/// readers stop there, and their partition EOF is at the LSO, as librdkafka's.</item>
/// <item>Transactions: <c>InitTransactions</c> fences the previous producer with the same transactional id (its next
/// call throws a fatal <c>Local_Fenced</c> error) and aborts its open transaction. Offsets sent to a transaction become
/// the group's committed offsets at commit; the group coordinator refuses them (abortable error) from a member it no
/// longer knows (<c>UnknownMemberId</c>) or of an older generation (<c>IllegalGeneration</c>), as KIP-447 does when
/// <c>SendOffsetsToTransaction</c> runs; it does not check again at commit, nor does Kafka. A read_committed consumer's
/// committed-offset fetch waits while a transaction holds offsets for that partition (KIP-447 require_stable).</item>
/// <item>Consumer groups: eager rebalances, range assignment, callbacks from inside <c>Consume</c> (see <see cref="ConsumerGroup"/>).</item>
/// <item>Deterministic faults and stalls (<see cref="Faults"/>); records larger than <see cref="MaxMessageBytes"/> refused
/// on <c>Produce</c> with <c>MsgSizeTooLarge</c>, as librdkafka's <c>message.max.bytes</c> check does; records larger than
/// a topic's <c>max.message.bytes</c>, or without a key for a topic whose <c>cleanup.policy</c> is compact
/// (<see cref="SetTopicConfig"/>), refused by the broker: their delivery report carries <c>MsgSizeTooLarge</c> or
/// <c>InvalidRecord</c> and the transaction needs an abort. Topic configs described unless <see cref="RefuseDescribeConfigs"/>
/// (the dev broker refuses DescribeConfigs).</item>
/// </list>
/// Left out: retention and compaction (logs only grow, unless a test deletes records with <see cref="DeleteRecords"/> or
/// truncates a log with <see cref="TruncateLog"/>), replication, the broker-side size limit on whole batches (a topic's
/// limit is checked a record at a time), idempotence
/// sequence numbers, transaction timeouts (simulate one with <see cref="ExpireTransaction"/>), quotas, timing.
/// Records land in the log at <c>Produce</c> (librdkafka sends them a little later). Thread-safe: one lock; clients
/// call their handlers outside it.
/// </summary>
public sealed class InMemoryKafkaCluster(TimeProvider? time = null)
{
    private readonly Dictionary<string, List<StoredRecord>[]> _topics = [];
    private readonly Dictionary<string, ConsumerGroup> _groups = [];
    private readonly Dictionary<string, InMemoryProducer> _transactionalIds = [];
    private readonly List<OpenTransaction> _open = [];
    private readonly Dictionary<TopicPartition, long> _lowWatermarks = [];
    private readonly Dictionary<TopicPartition, (int Epoch, long At)> _truncations = [];
    private int _clients;

    /// <summary>The one lock of the cluster; waiters (<c>Consume</c>, <c>Committed</c>) are woken on every change.</summary>
    internal object Gate { get; } = new();

    internal TimeProvider Time { get; } = time ?? TimeProvider.System;

    /// <summary>librdkafka's <c>message.max.bytes</c>: key + value + serialized headers above this are refused on Produce.</summary>
    public int MaxMessageBytes { get; set; } = 1_000_000;

    public KafkaFaults Faults { get; } = new();

    private readonly Dictionary<string, Dictionary<string, string>> _configs = [];

    /// <summary>True: describing topic configs fails, as on the dev broker (librdkafka's mock cluster refuses DescribeConfigs).</summary>
    public bool RefuseDescribeConfigs { get; set; }

    /// <summary>
    /// <c>kafka-configs --alter --add-config name=value</c> on a topic. <c>max.message.bytes</c>, <c>segment.bytes</c>
    /// (a record at a time: the in-memory producer sends no batches) and a compact <c>cleanup.policy</c> are enforced on the records produced from then on (<see cref="Refusal"/>).
    /// </summary>
    public void SetTopicConfig(string topic, string name, string value)
    {
        lock (Gate)
        {
            if (!_configs.TryGetValue(topic, out var configs))
            {
                _configs[topic] = configs = new(StringComparer.Ordinal);
            }

            configs[name] = value;
        }
    }

    /// <summary>A topic's configs as DescribeConfigs answers them (those set, plus <c>max.message.bytes</c> and <c>segment.bytes</c> at Kafka's defaults 1048588 and 1073741824); null when <see cref="RefuseDescribeConfigs"/>.</summary>
    public IReadOnlyDictionary<string, string>? DescribeConfigs(string topic)
    {
        lock (Gate)
        {
            if (RefuseDescribeConfigs)
            {
                return null;
            }

            var configs = new Dictionary<string, string>(StringComparer.Ordinal) { ["max.message.bytes"] = "1048588", ["segment.bytes"] = "1073741824" };
            foreach (var (name, value) in _configs.GetValueOrDefault(topic) ?? [])
            {
                configs[name] = value;
            }

            return configs;
        }
    }

    /// <summary>A topic's size limits and the broker's answer to a record (here: a batch) over each.</summary>
    private static readonly (string Limit, Error Refusal)[] SizeLimits =
    [
        ("max.message.bytes", new Error(ErrorCode.MsgSizeTooLarge, "Broker: Message size too large")),
        ("segment.bytes", new Error(ErrorCode.RecordListTooLarge, "Broker: Message batch larger than configured server segment size")),
    ];

    /// <summary>
    /// What the broker says of a produced record under its topic's configs (<see cref="SetTopicConfig"/>), as Apache Kafka
    /// does: larger than <c>max.message.bytes</c>, <c>MsgSizeTooLarge</c>; than <c>segment.bytes</c>,
    /// <c>RecordListTooLarge</c>; without a key for a compacted topic, <c>InvalidRecord</c>; else null.
    /// </summary>
    internal Error? Refusal(string topic, long size, byte[]? key)
    {
        lock (Gate)
        {
            var configs = _configs.GetValueOrDefault(topic);
            foreach (var (limit, refusal) in SizeLimits)
            {
                if (configs?.GetValueOrDefault(limit) is { } bytes && size > long.Parse(bytes, System.Globalization.CultureInfo.InvariantCulture))
                {
                    return refusal;
                }
            }

            return key is null && configs?.GetValueOrDefault("cleanup.policy") is { } policy && policy.Contains("compact", StringComparison.Ordinal)
                ? new Error(ErrorCode.InvalidRecord, "Broker: Invalid record")
                : null;
        }
    }

    public void CreateTopic(string topic, int partitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        lock (Gate)
        {
            if (!_topics.TryAdd(topic, [.. Enumerable.Range(0, partitions).Select(_ => new List<StoredRecord>())]))
            {
                throw new InvalidOperationException($"Topic '{topic}' already exists.");
            }
        }
    }

    /// <summary>
    /// <c>kafka-topics --alter --partitions</c>: the topic grows to <paramref name="partitions"/> (new ones empty), and the
    /// groups subscribed to it rebalance, as they do once a member's metadata refresh finds the new count (librdkafka:
    /// <c>topic.metadata.refresh.interval.ms</c>, 5 minutes by default).
    /// </summary>
    public void AddPartitions(string topic, int partitions)
    {
        lock (Gate)
        {
            var logs = _topics[topic];
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(partitions, logs.Length);
            _topics[topic] = [.. logs, .. Enumerable.Range(0, partitions - logs.Length).Select(_ => new List<StoredRecord>())];
            Rebalance(topic);
        }
    }

    /// <summary>
    /// <c>kafka-topics --delete</c>: the topic and its records are gone. Producing to it is refused
    /// (<c>Local_UnknownTopic</c>); the groups subscribed to it rebalance without it, and each subscribed consumer reports
    /// it once from its next <c>Consume</c> through the error callback (<see cref="RebalanceHandlers.Error"/>,
    /// <c>UnknownTopicOrPart</c>), not as a <c>ConsumeException</c>: what librdkafka 2.16.0 does on the dev broker
    /// (<c>ProcessorProcessTests.A_topic_deleted_while_it_runs_stops_it_with_exit_code_1_naming_the_topic</c>).
    /// </summary>
    public void DeleteTopic(string topic)
    {
        lock (Gate)
        {
            _topics.Remove(topic);
            Rebalance(topic);
        }
    }

    private void Rebalance(string topic)
    {
        foreach (var group in _groups.Values.Where(g => g.Members.Any(m => m.Topics.Contains(topic))))
        {
            group.Rebalance();
        }

        Monitor.PulseAll(Gate);
    }

    public int? PartitionCount(string topic)
    {
        lock (Gate)
        {
            return _topics.TryGetValue(topic, out var partitions) ? partitions.Length : null;
        }
    }

    /// <summary>
    /// A consumer of <paramref name="groupId"/>, with <paramref name="handlers"/> for a subscribing member (an assign-only
    /// one's error callback: <paramref name="onError"/>). Its
    /// <c>Name</c> is "<paramref name="kind"/>-N" (N counts all clients), which a fault's <c>when</c> can match.
    /// </summary>
    public IConsumer<byte[], byte[]> CreateConsumer(
        string groupId,
        RebalanceHandlers? handlers = null,
        IsolationLevel isolation = IsolationLevel.ReadCommitted,
        bool partitionEof = false,
        string kind = "consumer",
        Action<Error>? onError = null)
        => new InMemoryConsumer(this, groupId, handlers, isolation, partitionEof, $"{kind}-{Interlocked.Increment(ref _clients)}", onError);

    /// <summary>A producer named "producer-N"; transactional when <paramref name="transactionalId"/> is set (then call InitTransactions first).</summary>
    public IProducer<byte[], byte[]> CreateProducer(string? transactionalId = null)
        => new InMemoryProducer(this, transactionalId, $"producer-{Interlocked.Increment(ref _clients)}");

    /// <summary>Writes one record outside any transaction (what an input producer does); returns its offset.</summary>
    public long Produce(string topic, int partition, byte[]? key, byte[]? value, Headers? headers = null)
    {
        lock (Gate)
        {
            return Append(new TopicPartition(topic, partition), new Message<byte[], byte[]> { Key = key!, Value = value!, Headers = headers ?? [] }, null);
        }
    }

    /// <summary>What a read_committed consumer reading the whole topic gets, by partition then offset.</summary>
    public IReadOnlyList<ConsumeResult<byte[], byte[]>> ReadCommitted(string topic) => ReadAll(topic, IsolationLevel.ReadCommitted);

    /// <summary>What a read_uncommitted consumer gets: also records of open and aborted transactions.</summary>
    public IReadOnlyList<ConsumeResult<byte[], byte[]>> ReadUncommitted(string topic) => ReadAll(topic, IsolationLevel.ReadUncommitted);

    public long LastStableOffset(string topic, int partition)
    {
        lock (Gate)
        {
            return EndOffset(new TopicPartition(topic, partition), IsolationLevel.ReadCommitted);
        }
    }

    /// <summary>One past the last record, control records and open transactions included.</summary>
    public long HighWatermark(string topic, int partition)
    {
        lock (Gate)
        {
            return Log(new TopicPartition(topic, partition)).Count;
        }
    }

    /// <summary>
    /// Retention or DeleteRecords: the records before <paramref name="before"/> are gone (never delivered again) and the
    /// partition's low watermark moves there, as a deleted (not compacted) topic's does.
    /// </summary>
    public void DeleteRecords(string topic, int partition, long before)
    {
        lock (Gate)
        {
            var tp = new TopicPartition(topic, partition);
            var log = Log(tp);
            for (var i = 0; i < before && i < log.Count; i++)
            {
                log[i] = log[i] with { Message = null };
            }

            _lowWatermarks[tp] = Math.Max(LowWatermark(tp), Math.Min(before, log.Count));
        }
    }

    internal long LowWatermark(TopicPartition tp) => _lowWatermarks.GetValueOrDefault(tp);

    /// <summary>
    /// An unclean leader election: the new leader's log ends at <paramref name="from"/>, the records from there on are
    /// gone, and the next records take their offsets. A reader positioned past <paramref name="from"/> is moved back there
    /// on its next fetch, as librdkafka's KIP-320 validation of its position against the new leader epoch does.
    /// </summary>
    public void TruncateLog(string topic, int partition, long from)
    {
        lock (Gate)
        {
            var tp = new TopicPartition(topic, partition);
            var log = Log(tp);
            log.RemoveRange((int)from, log.Count - (int)from);
            _truncations[tp] = (Truncation(tp).Epoch + 1, from);
            Monitor.PulseAll(Gate);
        }
    }

    /// <summary>How many times the partition's log was truncated, and where the last truncation left its end.</summary>
    internal (int Epoch, long At) Truncation(TopicPartition tp) => _truncations.GetValueOrDefault(tp);

    /// <summary>The group's committed offsets (next offset to read), by partition.</summary>
    public IReadOnlyDictionary<TopicPartition, long> CommittedOffsets(string groupId)
    {
        lock (Gate)
        {
            return new Dictionary<TopicPartition, long>(Group(groupId).Committed);
        }
    }

    public int Generation(string groupId)
    {
        lock (Gate)
        {
            return Group(groupId).Generation;
        }
    }

    /// <summary>The group's current members, in join order.</summary>
    public IReadOnlyList<IConsumer<byte[], byte[]>> Members(string groupId)
    {
        lock (Gate)
        {
            return [.. Group(groupId).Members.Select(m => m.Consumer)];
        }
    }

    /// <summary>
    /// The member's session times out (process frozen or killed): the group drops it and rebalances without it; its
    /// partitions go to the others. If it ever calls <c>Consume</c> again, its Lost handler runs and it rejoins as a
    /// new member; until then its transactional offset commits are refused (<c>UnknownMemberId</c>).
    /// </summary>
    public void ExpireMember(IConsumer<byte[], byte[]> consumer)
    {
        lock (Gate)
        {
            ((InMemoryConsumer)consumer).Expire();
            Monitor.PulseAll(Gate);
        }
    }

    /// <summary>The coordinator aborts the id's open transaction after transaction.timeout.ms and fences its producer.</summary>
    public void ExpireTransaction(string transactionalId)
    {
        lock (Gate)
        {
            if (_transactionalIds.Remove(transactionalId, out var producer))
            {
                producer.AbortOpenTransaction();
            }
        }
    }

    internal ConsumerGroup Group(string groupId)
    {
        if (!_groups.TryGetValue(groupId, out var group))
        {
            _groups[groupId] = group = new ConsumerGroup(groupId, topic => _topics.TryGetValue(topic, out var p) ? p.Length : 0);
        }

        return group;
    }

    internal List<StoredRecord> Log(TopicPartition tp)
        => _topics.TryGetValue(tp.Topic, out var partitions)
            ? tp.Partition.Value >= 0 && tp.Partition.Value < partitions.Length
                ? partitions[tp.Partition.Value]
                : throw new KafkaException(new Error(ErrorCode.Local_UnknownPartition, $"Unknown partition {tp}"))
            : throw new KafkaException(new Error(ErrorCode.Local_UnknownTopic, $"Unknown topic '{tp.Topic}'"));

    /// <summary>Where a reader with <paramref name="isolation"/> must stop: the LSO or the high watermark.</summary>
    internal long EndOffset(TopicPartition tp, IsolationLevel isolation)
    {
        var high = Log(tp).Count;
        return isolation == IsolationLevel.ReadUncommitted
            ? high
            : _open.Select(t => t.FirstOffsets.TryGetValue(tp, out var first) ? first : high).Append(high).Min();
    }

    internal static bool Visible(StoredRecord record, IsolationLevel isolation)
        => record.Message is not null
            && (isolation == IsolationLevel.ReadUncommitted || record.Transaction is null || record.Transaction.State == TransactionState.Committed);

    internal long Append(TopicPartition tp, Message<byte[], byte[]> message, OpenTransaction? transaction)
    {
        var log = Log(tp);
        var stamped = new Message<byte[], byte[]>
        {
            Key = message.Key,
            Value = message.Value,
            Headers = message.Headers ?? [],
            Timestamp = message.Timestamp.Type == TimestampType.NotAvailable ? new Timestamp(Time.GetUtcNow()) : message.Timestamp,
        };
        log.Add(new StoredRecord(log.Count, stamped, transaction));
        transaction?.FirstOffsets.TryAdd(tp, log.Count - 1);
        Monitor.PulseAll(Gate);
        return log.Count - 1;
    }

    /// <summary>Whether a transaction still holds offsets of this group and partition (KIP-447's unstable offsets).</summary>
    internal bool HasPendingOffsets(string groupId, TopicPartition tp) => _open.Any(t => t.Offsets.ContainsKey((groupId, tp)));

    internal void Register(OpenTransaction transaction)
    {
        if (!_open.Contains(transaction))
        {
            _open.Add(transaction);
        }
    }

    /// <summary>Writes the control records and, on commit, the transaction's offsets; wakes every waiter.</summary>
    internal void Complete(OpenTransaction transaction, bool commit)
    {
        if (transaction.State != TransactionState.Open)
        {
            return;
        }

        transaction.State = commit ? TransactionState.Committed : TransactionState.Aborted;
        foreach (var tp in transaction.FirstOffsets.Keys)
        {
            Log(tp).Add(new StoredRecord(Log(tp).Count, null, transaction));
        }

        if (commit)
        {
            foreach (var ((groupId, tp), offset) in transaction.Offsets)
            {
                Group(groupId).Committed[tp] = offset;
            }
        }

        _open.Remove(transaction);
        Monitor.PulseAll(Gate);
    }

    /// <summary>Makes <paramref name="producer"/> the owner of its transactional id; the previous owner is fenced.</summary>
    internal void InitProducerId(string transactionalId, InMemoryProducer producer)
    {
        if (_transactionalIds.Remove(transactionalId, out var previous))
        {
            previous.AbortOpenTransaction();
        }

        _transactionalIds[transactionalId] = producer;
    }

    internal bool OwnsTransactionalId(string transactionalId, InMemoryProducer producer)
        => _transactionalIds.TryGetValue(transactionalId, out var owner) && owner == producer;

    private List<ConsumeResult<byte[], byte[]>> ReadAll(string topic, IsolationLevel isolation)
    {
        lock (Gate)
        {
            var partitions = _topics.TryGetValue(topic, out var p) ? p.Length : throw new ArgumentException($"Unknown topic '{topic}'", nameof(topic));
            return [.. Enumerable.Range(0, partitions).Select(i => new TopicPartition(topic, i)).SelectMany(tp => Log(tp)
                .Take((int)EndOffset(tp, isolation))
                .Where(r => Visible(r, isolation))
                .Select(r => r.ToResult(tp)))];
        }
    }
}

internal enum TransactionState
{
    Open,
    Committed,
    Aborted,
}

/// <summary>A transaction as its coordinator tracks it: where it wrote first on each partition, and its group offsets.</summary>
internal sealed class OpenTransaction
{
    public TransactionState State { get; set; }
    public Dictionary<TopicPartition, long> FirstOffsets { get; } = [];
    public Dictionary<(string GroupId, TopicPartition Partition), long> Offsets { get; } = [];
}

/// <summary>One log entry; a null message is a transaction's control record.</summary>
internal sealed record StoredRecord(long Offset, Message<byte[], byte[]>? Message, OpenTransaction? Transaction)
{
    public ConsumeResult<byte[], byte[]> ToResult(TopicPartition tp) => new()
    {
        TopicPartitionOffset = new TopicPartitionOffset(tp, Offset),
        Message = new Message<byte[], byte[]> { Key = Message!.Key, Value = Message.Value, Headers = Message.Headers, Timestamp = Message.Timestamp },
    };
}
