using System.Text;
using Confluent.Kafka;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.State;
using SignalPipeline.Messages;

namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// Filters a batch's released chunks so that one bad chunk costs only itself: the whole batch is filtered at once
/// (the fast path); if that throws for a chunk's sake, or a chunk's output is not finite, the streams concerned go back
/// to their committed state and are filtered again one chunk at a time, each bad chunk marked as poison and its stream
/// left as it was before it. A transport failure (the filterer says which) is thrown: the batch is retried.
/// Before filtering, each stream's config is decided against <paramref name="configs"/> at its first chunk of the batch
/// (docs/processor.md, "Per-stream filters"): the switch is part of this transaction and of the checkpoint it writes.
/// </summary>
public sealed class BatchFilter(IChunkFilterer filterer, StreamConfigTable? configs = null, string configTopic = SignalPipeline.Kafka.PipelineTopics.DefaultStreamConfig)
{
    /// <summary>Dead-letter code of a stream-config record that was refused (docs/processor.md).</summary>
    public const string InvalidStreamConfig = "invalid-stream-config";

    // Per stream of the batch: the switch back to the deployment default (a redeploy changed it) and the entry's decision.
    private readonly Dictionary<StreamState, (ConfigDecision? Redefault, ConfigDecision Decision)> _decisions = new(ReferenceEqualityComparer.Instance);

    private readonly List<FilterWork> _work = [];

    /// <summary>Config switches applied by the last <see cref="FilterAsync"/> (for telemetry and tests).</summary>
    public int Switches { get; private set; }

    /// <summary>Streams whose filter the last <see cref="FilterAsync"/> started again, and at which seq (<see cref="RestartAsync"/>).</summary>
    public List<(string StreamId, long Seq)> Restarts { get; } = [];

    /// <summary>Filters the work; refused stream-config records the batch acts on go to <paramref name="deadLetters"/>.</summary>
    public async Task FilterAsync(List<ChunkWork> work, CancellationToken cancellationToken, List<DeadLetter>? deadLetters = null)
    {
        Switches = 0;
        Restarts.Clear();
        if (work.Count == 0)
        {
            return;
        }

        DecideConfigs(work, deadLetters);
        HashSet<StreamState>? suspects = null;
        try
        {
            // One list for every batch: built per batch (40 bytes an item and its growth) it was 3 % of the bytes the
            // processor allocated at 64 samples a chunk. The filterers keep no reference to it past their return.
            foreach (var item in work)
            {
                _work.Add(item.ToFilterWork());
            }

            try
            {
                await filterer.FilterAsync(_work, cancellationToken);
            }
            finally
            {
                _work.Clear();
            }

            foreach (var item in work)
            {
                // A state past the range of a double with finite outputs (lms after an input near 1e306) would make every
                // later chunk of the stream non-finite, and its checkpoint could not be restored: one of its chunks is poison.
                if (!IsFinite(item) || !item.Stream.Filter.StateIsFinite)
                {
                    (suspects ??= new(ReferenceEqualityComparer.Instance)).Add(item.Stream);
                }
            }
        }
        catch (Exception e) when (filterer.IsChunkFault(e))
        {
            // Which chunk failed is not known: every stream of the batch takes the slow path.
            suspects = new(work.Select(w => w.Stream), ReferenceEqualityComparer.Instance);
        }

        if (suspects is not null)
        {
            await IsolateAsync([.. work.Where(w => suspects.Contains(w.Stream))], cancellationToken);
        }
    }

    private async Task IsolateAsync(List<ChunkWork> work, CancellationToken cancellationToken)
    {
        foreach (var stream in work.Select(w => w.Stream).Distinct())
        {
            stream.Filter.RollbackFilter();
            if (_decisions.TryGetValue(stream, out var decided))
            {
                // The rollback undid them; the same decisions hold for the retry.
                if (decided.Redefault is { } redefault)
                {
                    Apply(stream, redefault);
                }

                Apply(stream, decided.Decision);
            }
        }

        foreach (var item in work)
        {
            var before = item.Stream.Filter.SaveState();
            string? reason = null;
            var code = PoisonCodes.FilterFailed;
            try
            {
                await filterer.FilterAsync([item.ToFilterWork()], cancellationToken);
                if (!IsFinite(item))
                {
                    code = PoisonCodes.NonFiniteOutput;
                    reason = item.Chunk.Decoded!.Format == SampleFormat.Float32
                        ? $"filtering seq {item.Chunk.Seq} gave an output sample that is not finite in float32 (NaN, infinite or beyond ±3.4E+38)"
                        : $"filtering seq {item.Chunk.Seq} gave a non-finite output sample (the input's magnitude or the stream's filter parameters take its arithmetic beyond the range of a double)";
                }
                else if (!item.Stream.Filter.StateIsFinite)
                {
                    code = PoisonCodes.NonFiniteOutput;
                    reason = $"filtering seq {item.Chunk.Seq} left the filter's state not finite, so no later chunk could be filtered from it (the input's magnitude or the stream's filter parameters take its arithmetic beyond the range of a double)";
                }
            }
            catch (Exception e) when (filterer.IsChunkFault(e))
            {
                code = e is ChunkRefusedException ? PoisonCodes.RemoteRefused : PoisonCodes.FilterFailed;
                reason = $"filtering seq {item.Chunk.Seq} failed: {e.Message}";
            }

            if (reason is not null && !(code is PoisonCodes.NonFiniteOutput or PoisonCodes.RemoteRefused && await RestartAsync(item, cancellationToken)))
            {
                item.Poison = (code, reason);
                item.Stream.Filter.SetSnapshot(before);
            }
        }
    }

    /// <summary>
    /// A chunk that a fresh filter takes without overflow is not at fault: the state carried over is. An input near the
    /// range of a double (lms: 1e306 with finite outputs and a finite state) stays in the taps, every later chunk would come
    /// out non-finite from it and be dead-lettered, and since each is rolled back the taps never move on: the stream
    /// would be lost until evicted. So its filter starts again at this chunk, with the same config, as rls restarts its
    /// own w and P; logged and counted (<c>filter.restarts</c>, docs/processor.md). Remote mode the same: the service
    /// refuses (422) the chunk from the state carried over, not from a fresh one. A chunk a fresh filter cannot take
    /// either stays poison (the caller puts the state back).
    /// </summary>
    private async Task<bool> RestartAsync(ChunkWork item, CancellationToken cancellationToken)
    {
        var mark = item.Stream.Filter.Restart();
        try
        {
            await filterer.FilterAsync([item.ToFilterWork()], cancellationToken);
            if (IsFinite(item) && item.Stream.Filter.StateIsFinite)
            {
                Restarts.Add((item.Stream.StreamId, item.Chunk.Seq));
                return true;
            }
        }
        catch (Exception e) when (filterer.IsChunkFault(e))
        {
        }

        item.Stream.Filter.UndoRestart(mark, null);
        return false;
    }

    /// <summary>One decision per stream, at its first chunk of the batch (items of a stream are in seq order).</summary>
    private void DecideConfigs(List<ChunkWork> work, List<DeadLetter>? deadLetters)
    {
        _decisions.Clear();
        if (configs is null)
        {
            return;
        }

        foreach (var item in work)
        {
            var stream = item.Stream;
            if (_decisions.ContainsKey(stream))
            {
                continue;
            }

            var redefault = ConfigDecision.Redefault(stream.Filter.Setting, stream.Filter.SaveState(), configs.Default);
            if (redefault is null && configs.Count == 0 && stream.Filter.Setting is null)
            {
                continue; // no entries at all, a stream on the default and a state that runs it: nothing to decide
            }

            if (redefault is { } switched)
            {
                Apply(stream, switched);
            }

            var decision = ConfigDecision.Decide(stream.Filter.Setting, configs.Find(stream.StreamId), configs.Default, item.Chunk.Seq);
            _decisions[stream] = (redefault, decision);
            Apply(stream, decision);
            Switches += (redefault is null ? 0 : 1) + (decision.Change == ConfigChange.Switch ? 1 : 0);
            if (decision is { Change: ConfigChange.Refuse, Entry: { } entry })
            {
                deadLetters?.Add(new DeadLetter(Encoding.UTF8.GetBytes(entry.StreamId), entry.Value, [],
                    new TopicPartitionOffset(configTopic, entry.Partition, entry.Offset), InvalidStreamConfig,
                    $"stream-config entry for '{entry.StreamId}' refused: {entry.Error}; the stream keeps {decision.From}"));
            }
        }
    }

    private static void Apply(StreamState stream, ConfigDecision decision)
    {
        switch (decision.Change)
        {
            case ConfigChange.Record or ConfigChange.Refuse:
                stream.Filter.Record(decision.Setting);
                break;
            case ConfigChange.Switch:
                stream.Filter.Switch(decision.Setting, decision.From, decision.To);
                break;
        }
    }

    /// <summary>Whether every output sample is finite in the chunk's own form: an f32 output beyond the float range
    /// (a finite double over 3.4e38) would be infinite when written.</summary>
    private static bool IsFinite(ChunkWork item)
    {
        var chunk = item.Chunk.Decoded!;
        var output = item.Output.AsSpan(0, chunk.Signal.Length);
        var single = chunk.Format == SampleFormat.Float32;
        foreach (var sample in output)
        {
            if (!double.IsFinite(sample) || (single && !float.IsFinite((float)sample)))
            {
                return false;
            }
        }

        return true;
    }
}
