using Confluent.Kafka;

namespace SignalPipeline.Tests.FilterKafkaProcessor.Fakes;

/// <summary>
/// An in-memory consumer's assigned partitions and where it reads each, as librdkafka's fetcher behaves seen from the
/// application: records one at a time, rotating over the partitions; read_committed stops at the LSO and skips aborted
/// and control records; a partition EOF (when enabled) once each time the reader reaches the end. A start offset of
/// Unset is resolved to the group's committed offset, and while a transaction holds offsets for the partition a
/// read_committed reader waits (KIP-447 require_stable); no committed offset, or one out of range, means earliest
/// (auto.offset.reset=earliest, as the processor configures); a position past a truncated log's new end moves back to
/// it (KIP-320). All members are called under the cluster's lock.
/// </summary>
internal sealed class AssignedPartitions(InMemoryKafkaCluster cluster, string groupId, IsolationLevel isolation, bool partitionEof, string client)
{
    private readonly Dictionary<TopicPartition, Cursor> _cursors = [];
    private int _rotation;

    public int Count => _cursors.Count;

    public List<TopicPartition> Partitions => [.. _cursors.Keys];

    public void Add(IEnumerable<TopicPartitionOffset> partitions)
    {
        foreach (var tpo in partitions)
        {
            cluster.Log(tpo.TopicPartition);
            _cursors[tpo.TopicPartition] = new Cursor { Start = tpo.Offset };
        }
    }

    public void Remove(TopicPartition tp) => _cursors.Remove(tp);

    /// <summary>Empties the assignment; returns what it held, as the rebalance handlers get it (offsets Unset).</summary>
    public List<TopicPartitionOffset> Clear()
    {
        var held = _cursors.Keys.Select(tp => new TopicPartitionOffset(tp, Offset.Unset)).ToList();
        _cursors.Clear();
        return held;
    }

    public void Seek(TopicPartitionOffset tpo)
    {
        var cursor = Held(tpo.TopicPartition);
        (cursor.Start, cursor.EofAt) = (tpo.Offset, -1);
    }

    public void SetPaused(TopicPartition tp, bool paused) => Held(tp).Paused = paused;

    /// <summary>One past the last record returned, or where the EOF was reported; Unset while the start is unresolved.</summary>
    public Offset Position(TopicPartition tp)
        => _cursors.TryGetValue(tp, out var cursor) && Resolve(tp, cursor) ? new Offset(cursor.Returned) : Offset.Unset;

    /// <summary>Throws as librdkafka does for a partition this consumer does not hold.</summary>
    public TopicPartition Owned(TopicPartition tp)
        => _cursors.ContainsKey(tp) ? tp : throw new KafkaException(new Error(ErrorCode.Local_State, $"{tp} is not assigned to {client}"));

    /// <summary>The next record (or partition EOF) of any readable partition; null when there is none now.</summary>
    public ConsumeResult<byte[], byte[]>? Fetch()
    {
        var partitions = Partitions;
        for (var i = 0; i < partitions.Count; i++)
        {
            var tp = partitions[(_rotation + i) % partitions.Count];
            var cursor = _cursors[tp];
            if (cursor.Paused || !Resolve(tp, cursor))
            {
                continue;
            }

            var log = cluster.Log(tp);
            var truncation = cluster.Truncation(tp);
            if (truncation.Epoch != cursor.Epoch)
            {
                // The log was truncated (InMemoryKafkaCluster.TruncateLog): KIP-320 moves a position past the new end there.
                cursor.Epoch = truncation.Epoch;
                if (cursor.Next > truncation.At)
                {
                    cursor.Next = cursor.Returned = truncation.At;
                }
            }

            var end = cluster.EndOffset(tp, isolation);
            while (cursor.Next < end && !InMemoryKafkaCluster.Visible(log[(int)cursor.Next], isolation))
            {
                cursor.Next++;
            }

            if (cursor.Next < end)
            {
                _rotation = (_rotation + i + 1) % partitions.Count;
                cursor.Returned = cursor.Next + 1;
                return log[(int)cursor.Next++].ToResult(tp);
            }

            if (partitionEof && cursor.EofAt != cursor.Next)
            {
                cursor.EofAt = cursor.Returned = cursor.Next;
                return new ConsumeResult<byte[], byte[]> { TopicPartitionOffset = new TopicPartitionOffset(tp, cursor.Next), IsPartitionEOF = true };
            }
        }

        return null;
    }

    /// <summary>Turns a logical start offset into a position; false while the committed offset is unstable.</summary>
    private bool Resolve(TopicPartition tp, Cursor cursor)
    {
        if (cursor.Start is not { } start)
        {
            return true;
        }

        long position;
        if (start == Offset.Beginning)
        {
            position = 0;
        }
        else if (start == Offset.End)
        {
            position = cluster.EndOffset(tp, isolation);
        }
        else if (!start.IsSpecial)
        {
            position = start.Value <= cluster.Log(tp).Count ? start.Value : 0;
        }
        else if (isolation == IsolationLevel.ReadCommitted && cluster.HasPendingOffsets(groupId, tp))
        {
            return false;
        }
        else
        {
            position = cluster.Group(groupId).Committed.TryGetValue(tp, out var committed) ? committed : 0;
        }

        (cursor.Start, cursor.Next, cursor.Returned, cursor.Epoch) = (null, position, position, cluster.Truncation(tp).Epoch);
        return true;
    }

    private Cursor Held(TopicPartition tp) => _cursors[Owned(tp)];

    private sealed class Cursor
    {
        /// <summary>A start offset not resolved yet (a special value, or Unset waiting for stable offsets).</summary>
        public Offset? Start { get; set; }

        /// <summary>The fetch position: the next offset to look at.</summary>
        public long Next { get; set; }

        /// <summary>What <c>Position</c> reports.</summary>
        public long Returned { get; set; }

        /// <summary>The log's truncation epoch the position was last validated against (<see cref="InMemoryKafkaCluster.Truncation"/>).</summary>
        public int Epoch { get; set; }

        public long EofAt { get; set; } = -1;

        public bool Paused { get; set; }
    }
}
