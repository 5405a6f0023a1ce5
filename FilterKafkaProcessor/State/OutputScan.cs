using SignalPipeline.Messages;

namespace FilterKafkaProcessor.State;

/// <summary>
/// The dev broker's compensation, and nothing else: librdkafka's mock cluster shows records of aborted and unfinished
/// transactions to read_committed readers, so after a crash the output can already hold chunks past the restored
/// checkpoint. This scans each output partition from the checkpoint's <c>OutputScanFrom</c> to its end and notes per
/// stream the highest seq there; those chunks are filtered again (to rebuild the state) but not written twice. Used only
/// with <c>Processor:DevBrokerCompensation=true</c>; a real cluster hides those records and needs no scan.
/// </summary>
public sealed class OutputScan(ChangelogReader reader, ProcessorOptions options, ILogger logger)
{
    public void Apply(IReadOnlyDictionary<int, PartitionState> restored, IReadOnlyDictionary<int, long> scanFrom, Func<int, int> outputPartition)
    {
        // Output partitions may be shared by several input partitions (fewer output partitions): scan each once.
        var from = new Dictionary<int, long>();
        foreach (var (p, start) in scanFrom)
        {
            var output = outputPartition(p);
            from[output] = from.TryGetValue(output, out var existing) ? Math.Min(existing, start) : start;
        }

        var limits = new DecodeLimits { MaxSamples = options.MaxChunkSamples };
        var highest = new Dictionary<int, Dictionary<string, long>>();
        var marks = reader.ReadToEnd(options.OutputTopic, from, (output, record) =>
        {
            if (SampleCodec.TryDecodeFilteredChunk(record.Message.Key ?? [], record.Message.Value ?? [], record.Message.Headers, out var chunk, out _, limits: limits))
            {
                var seqs = highest.TryGetValue(output, out var s) ? s : highest[output] = new(StringComparer.Ordinal);
                seqs[chunk.StreamId] = Math.Max(seqs.GetValueOrDefault(chunk.StreamId, -1), chunk.Seq);
            }
        });

        foreach (var (p, state) in restored)
        {
            var output = outputPartition(p);
            foreach (var (streamId, seq) in highest.GetValueOrDefault(output) ?? [])
            {
                var next = state.TryGet(streamId, out var stream) ? stream.NextSeq : 0;
                if (seq >= next)
                {
                    state.AlreadyOutput[streamId] = seq;
                }
            }

            // The next checkpoint's scan start: past what was read only when none of it is ahead of the streams. Chunks
            // found ahead stay behind the scan start until the streams have committed past them, so a restore from any
            // checkpoint before that (one written by a transaction the dev broker then shows though it never ended)
            // finds them again instead of writing them twice.
            if (state.AlreadyOutput.Count == 0)
            {
                state.OutputEnd = marks.TryGetValue(output, out var mark) ? mark.High : state.OutputEnd;
            }
            else
            {
                state.OutputEnd = from.GetValueOrDefault(output, state.OutputEnd);
                logger.LogWarning(
                    "Partition {Partition}: the output already holds chunks past the checkpoint for {Streams} streams (an unfinished transaction's records are visible on the dev broker); they are re-filtered but not written again",
                    p, state.AlreadyOutput.Count);
            }
        }
    }
}
