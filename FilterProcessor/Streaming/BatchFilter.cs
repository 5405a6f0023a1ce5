using FilterProcessor.Filtering;
using FilterProcessor.State;

namespace FilterProcessor.Streaming;

/// <summary>
/// Filters a batch's released chunks so that one bad chunk costs only itself: the whole batch is filtered at once
/// (the fast path); if that throws for a chunk's sake, or a chunk's output is not finite, the streams concerned go back
/// to their committed state and are filtered again one chunk at a time, each bad chunk marked as poison and its stream
/// left as it was before it. A transport failure (the filterer says which) is thrown: the batch is retried.
/// </summary>
public sealed class BatchFilter(IChunkFilterer filterer)
{
    public async Task FilterAsync(List<ChunkWork> work, CancellationToken cancellationToken)
    {
        if (work.Count == 0)
        {
            return;
        }

        HashSet<StreamState>? suspects = null;
        try
        {
            await filterer.FilterAsync([.. work.Select(w => w.ToFilterWork())], cancellationToken);
            foreach (var item in work)
            {
                if (!IsFinite(item))
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
                    reason = $"filtering seq {item.Chunk.Seq} gave a non-finite output sample (the input's magnitude overflows the filter's arithmetic)";
                }
            }
            catch (Exception e) when (filterer.IsChunkFault(e))
            {
                code = e is ChunkRefusedException ? PoisonCodes.RemoteRefused : PoisonCodes.FilterFailed;
                reason = $"filtering seq {item.Chunk.Seq} failed: {e.Message}";
            }

            if (reason is not null)
            {
                item.Poison = (code, reason);
                item.Stream.Filter.SetSnapshot(before);
            }
        }
    }

    private static bool IsFinite(ChunkWork item)
    {
        var output = item.Output.AsSpan(0, item.Chunk.Decoded!.Signal.Length);
        foreach (var sample in output)
        {
            if (!double.IsFinite(sample))
            {
                return false;
            }
        }

        return true;
    }
}
