using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor.State;
using SignalPipeline.Messages;

namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// Writes one filtered batch as one transaction, in the order that makes every crash point safe: (on the dev broker,
/// each partition's committed position first, true whenever it lands) outputs and dead letters, then stream
/// checkpoints and tombstones, then each partition's checkpoint (written last: a visible
/// partition checkpoint with the transaction's new position means its whole transaction is visible; on the dev broker the collector holds the changelog
/// records until the outputs are delivered, <see cref="RecordCollector.Changelog"/>), then the input offsets with the
/// group's metadata, then the commit. After a commit the streams adopt what was checkpointed (<see cref="Committed"/>); after a failure
/// they roll back (<see cref="RollBack"/>). <see cref="Write"/> leaves the commit to the caller, who runs it while it
/// collects the next batch.
/// </summary>
public sealed class BatchWriter(RecordCollector collector, ProcessorOptions options, ChunkLimits limits, int outputPartitions, CodecWorkers codec)
{
    private readonly List<(PartitionState Partition, StreamState Stream, StreamCheckpoint Checkpoint)> _checkpoints = [];
    private readonly List<ChunkWork> _outputs = [];
    private Message<byte[], byte[]>[] _messages = [];
    private byte[]? _spareValue;

    public int OutputPartition(int inputPartition) => inputPartition % outputPartitions;

    /// <summary>
    /// Begins the transaction and produces everything of the batch but the commit: outputs, dead letters, checkpoints,
    /// tombstones and partition checkpoints. Returns the input offsets to send with the commit.
    /// </summary>
    public WrittenBatch Write(Batch batch, IReadOnlyDictionary<int, PartitionTask> tasks, Headers traceContext, long processedMs)
    {
        collector.Begin();
        if (options.DevBrokerCompensation)
        {
            // The changelog records wait for the outputs' delivery (RecordCollector.Changelog), and a changelog partition
            // new to the transaction would then cost an AddPartitionsToTxn round trip more: each partition's committed
            // position, true whenever it lands, registers it now, beside the outputs (issue 14, docs/processor.md).
            foreach (var p in batch.LastOffsets.Keys)
            {
                if (tasks.TryGetValue(p, out var task))
                {
                    collector.ChangelogNow(p, [], new PartitionCheckpoint(task.State.NextInputOffset, task.State.OutputEnd).Serialize());
                }
            }
        }

        long cost = 0;
        foreach (var work in batch.Work)
        {
            if (work.Poison is { } poison)
            {
                var chunk = work.Chunk;
                batch.DeadLetters.Add(new DeadLetter(Encoding.UTF8.GetBytes(work.Stream.StreamId), chunk.Value, chunk.Headers, chunk.Source, poison.Code, poison.Reason));
                continue;
            }

            var already = work.Partition.AlreadyOutput;
            if (already.Count > 0 && already.TryGetValue(work.Stream.StreamId, out var highest) && work.Chunk.Seq <= highest)
            {
                batch.Replayed++;
                continue;
            }

            _outputs.Add(work);
            cost += CodecWorkers.Cost(work.Chunk.Value);
        }

        WriteOutputs(cost, traceContext, processedMs);

        foreach (var letter in batch.DeadLetters)
        {
            collector.DeadLetter(letter, limits);
        }

        var partitions = new HashSet<PartitionState>(batch.LastOffsets.Keys.Where(tasks.ContainsKey).Select(p => tasks[p].State));
        _checkpoints.Clear();
        foreach (var stream in batch.Touched)
        {
            var checkpoint = stream.ToCheckpoint();
            var partition = tasks[stream.Partition].State;
            _checkpoints.Add((partition, stream, checkpoint));
            partitions.Add(partition);
            collector.Changelog(partition.Partition, Encoding.UTF8.GetBytes(stream.StreamId), checkpoint.Serialize());
        }

        foreach (var (partition, stream) in batch.Evicted)
        {
            partitions.Add(partition);
            collector.Changelog(partition.Partition, Encoding.UTF8.GetBytes(stream.StreamId), null);
        }

        var offsets = new List<TopicPartitionOffset>(partitions.Count);
        foreach (var partition in partitions)
        {
            var next = batch.LastOffsets.TryGetValue(partition.Partition, out var last) ? last + 1 : partition.NextInputOffset;
            collector.Changelog(partition.Partition, [], new PartitionCheckpoint(next, partition.OutputEnd).Serialize());

            // Every partition the transaction writes for gets an offset, even one that only evicted or released held
            // chunks: the offsets carry the group generation, so a zombie's transaction is refused whatever it holds.
            offsets.Add(new TopicPartitionOffset(options.InputTopic, partition.Partition, Math.Max(next, 0)));
        }

        return new WrittenBatch(offsets, partitions);
    }

    /// <summary>After an aborted transaction: every stream it touched goes back to its last commit; new streams are forgotten.</summary>
    public static void RollBack(Batch batch, IReadOnlyDictionary<int, PartitionTask> tasks)
    {
        foreach (var stream in batch.Touched)
        {
            if (!tasks.TryGetValue(stream.Partition, out var task))
            {
                continue;
            }

            var partition = task.State;
            if (stream.IsUncommitted)
            {
                partition.Remove(stream);
                continue;
            }

            stream.Rollback();
            if (stream.HeldCount > 0)
            {
                partition.Holding.Add(stream);
            }
            else
            {
                partition.Holding.Remove(stream);
            }
        }
    }

    /// <summary>After the commit: the streams adopt their checkpoints, evicted streams go, the partitions move on.</summary>
    public void Committed(Batch batch, WrittenBatch written)
    {
        var partitions = written.Partitions;
        foreach (var (partition, stream, checkpoint) in _checkpoints)
        {
            partition.OnCommitted(stream, checkpoint);
        }

        foreach (var (partition, stream) in batch.Evicted)
        {
            partition.Remove(stream);
        }

        foreach (var partition in partitions)
        {
            if (batch.LastOffsets.TryGetValue(partition.Partition, out var last))
            {
                partition.NextInputOffset = last + 1;
            }

            partition.PendingSinceMs = null;
            ForgetPassedOutput(partition);

            // While chunks the dev broker showed ahead of the streams are not yet committed past, the scan start stays
            // before them (see OutputScan).
            if (partition.AlreadyOutput.Count == 0)
            {
                partition.OutputEnd = Math.Max(partition.OutputEnd, collector.OutputEnd(OutputPartition(partition.Partition)));
            }

            partition.ChangelogEnd = Math.Max(partition.ChangelogEnd, collector.ChangelogEnd(partition.Partition));
        }
    }

    /// <summary>Drops the already-output marks of streams that have now committed past them.</summary>
    private static void ForgetPassedOutput(PartitionState partition)
    {
        // Removing the current entry while enumerating is allowed for Dictionary (.NET Core 3.0 on).
        foreach (var (streamId, highest) in partition.AlreadyOutput)
        {
            if (partition.TryGet(streamId, out var stream) && stream.NextSeq > highest)
            {
                partition.AlreadyOutput.Remove(streamId);
            }
        }
    }

    /// <summary>Encodes the outputs and produces them in the batch's order: each in turn, or all first on the codec threads when worth it.</summary>
    private void WriteOutputs(long cost, Headers traceContext, long processedMs)
    {
        var outputs = _outputs;
        if (!codec.IsParallel(outputs.Count, cost))
        {
            // On the stream thread alone each record is encoded and produced in turn: once produced (librdkafka copied
            // it) it is garbage, instead of the whole batch's outputs being alive together when a collection comes; and
            // its value array is written again by the next record of the same length (every binary record of a chunk
            // size): its delivery report is read for partition, offset and error only (RecordCollector.Track; by
            // default it carries no value, KafkaSupplier.ConfigureProducer), so nothing reads the array after Produce.
            try
            {
                foreach (var work in outputs)
                {
                    var message = OutputMessage(work, traceContext, processedMs, _spareValue);
                    collector.Output(OutputPartition(work.Partition.Partition), message);
                    _spareValue = message.Value;
                }
            }
            finally
            {
                outputs.Clear();
            }

            return;
        }

        if (_messages.Length < outputs.Count)
        {
            _messages = new Message<byte[], byte[]>[Math.Max(outputs.Count, _messages.Length * 2)];
        }

        try
        {
            codec.For(outputs.Count, cost, (this, outputs, _messages, traceContext, processedMs),
                static (s, i) => s._messages[i] = s.Item1.OutputMessage(s.outputs[i], s.traceContext, s.processedMs, spareValue: null));
            for (var i = 0; i < outputs.Count; i++)
            {
                collector.Output(OutputPartition(outputs[i].Partition.Partition), _messages[i]);
            }
        }
        finally
        {
            Array.Clear(_messages, 0, outputs.Count);
            outputs.Clear();
        }
    }

    private Message<byte[], byte[]> OutputMessage(ChunkWork work, Headers traceContext, long processedMs, byte[]? spareValue)
    {
        var chunk = work.Chunk;
        var decoded = chunk.Decoded!;
        var message = SampleCodec.ToMessage(new FilteredChunk(work.Stream.StreamId, chunk.Seq, work.Stream.Filter.Algorithm ?? options.Algorithm, decoded.Signal, work.Output.AsMemory(0, decoded.Signal.Length), chunk.TimestampMs, processedMs)
        {
            Format = decoded.Format,

            // JSON in, JSON out: the raw samples' text is copied from the input instead of formatted again.
            SignalJson = decoded.SignalJsonRange is { } range ? chunk.Value.AsMemory(range) : default,
        }, spareValue);
        foreach (var header in traceContext)
        {
            message.Headers.Add(header.Key, header.GetValueBytes());
        }

        return message;
    }
}

/// <summary>What <see cref="BatchWriter.Write"/> leaves for the commit: the input offsets and the partitions written for.</summary>
public sealed record WrittenBatch(IReadOnlyList<TopicPartitionOffset> Offsets, IReadOnlyCollection<PartitionState> Partitions);
