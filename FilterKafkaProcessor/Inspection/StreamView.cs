using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.State;
using FilterKafkaProcessor.Streaming;
using SignalPipeline.Filters;

namespace FilterKafkaProcessor.Inspection;

/// <summary>A stream's config as shown by <c>GET /streams</c>: where it comes from and since which seq it runs.</summary>
/// <param name="Source">"stream-config" (the stream's own entry) or "default" (<c>FILTER_ALGORITHM</c>, <c>Filter:Params</c>).</param>
/// <param name="SwitchSeq">The seq from which the stream runs this config; null: since its first chunk.</param>
/// <param name="ConfigOffset">The stream-config record last acted on (applied or refused); null: none.</param>
public sealed record ConfigView(string Algorithm, IReadOnlyDictionary<string, double> Params, string Source, long? SwitchSeq, long? ConfigOffset);

/// <summary>A stream-config entry not acted on yet (it takes effect at the stream's next chunk), or refused.</summary>
public sealed record PendingConfigView(long Offset, string? Algorithm, IReadOnlyDictionary<string, double>? Params, string? Error);

/// <summary>One line of <c>GET /streams</c>.</summary>
public sealed record StreamSummary(string StreamId, int Partition, string Algorithm, long NextSeq, long? SwitchSeq);

/// <summary>
/// <c>GET /streams/{id}</c>: what the stream's filter holds as of the last commit, readable (<see cref="FilterInspection"/>),
/// its config, its position (last seq = <see cref="NextSeq"/> - 1) and counters; <see cref="Instance"/> is the instance
/// that holds it (and answered, also when asked through another one).
/// </summary>
public sealed record StreamView(
    string StreamId, int Partition, long NextSeq, long? LastSeq, int HeldChunks, long LastActiveMs,
    ConfigView Config, PendingConfigView? PendingConfig, FilterInspection? Filter, string? Instance = null);

/// <summary>
/// <c>GET /streams</c>: this instance's streams (a page of them) and partitions, and the live instances of the directory
/// (<see cref="Directory.InstanceEntry"/>: which partitions each holds, where it answers).
/// </summary>
public sealed record StreamList(string Instance, IReadOnlyList<int> Partitions, int Total, IReadOnlyList<StreamSummary> Streams,
    IReadOnlyList<Directory.InstanceEntry>? Instances = null);

/// <summary>Builds the views from stream state; runs on the stream thread (see <see cref="StreamQueries"/>).</summary>
public static class StreamViews
{
    public static StreamView? Find(IReadOnlyDictionary<int, PartitionTask> tasks, string streamId, StreamConfigTable configs, string? instance = null)
    {
        foreach (var task in tasks.Values)
        {
            if (task.State.TryGet(streamId, out var stream))
            {
                return View(stream, configs) with { Instance = instance };
            }
        }

        return null;
    }

    public static StreamList List(IReadOnlyDictionary<int, PartitionTask> tasks, string instance, StreamConfigTable configs, int offset, int limit)
    {
        // Runs on the stream thread: a partition before the page is passed by its count, not walked, so an offset past
        // a million streams costs one step per partition.
        var page = new List<StreamSummary>(Math.Min(limit, 128));
        var skip = (long)offset;
        foreach (var task in tasks.Values.OrderBy(t => t.Partition))
        {
            if (page.Count >= limit)
            {
                break;
            }

            if (skip >= task.State.Count)
            {
                skip -= task.State.Count;
                continue;
            }

            foreach (var s in task.State.Streams.Skip((int)skip).Take(limit - page.Count))
            {
                page.Add(new StreamSummary(s.StreamId, s.Partition, (s.CommittedSetting?.Config ?? configs.Default).Algorithm, s.NextSeq, SwitchSeq(s.CommittedSetting)));
            }

            skip = 0;
        }

        return new StreamList(instance, [.. tasks.Keys.Order()], tasks.Values.Sum(t => t.State.Count), page);
    }

    private static StreamView View(StreamState stream, StreamConfigTable configs)
    {
        var setting = stream.CommittedSetting;
        var config = setting?.Config ?? configs.Default;
        var view = new ConfigView(config.Algorithm, config.Parameters, setting?.Config is null ? "default" : "stream-config",
            SwitchSeq(setting), setting is { ConfigOffset: >= 0 } ? setting.ConfigOffset : null);
        var entry = configs.Find(stream.StreamId);
        var pending = entry is not null && entry.Offset != (setting?.ConfigOffset ?? -1)
            ? new PendingConfigView(entry.Offset, entry.Config?.Algorithm, entry.Config?.Parameters, entry.Error)
            : null;
        var filter = stream.CommittedState is { } state ? FilterInspector.Inspect(state) : null;
        return new StreamView(stream.StreamId, stream.Partition, stream.NextSeq, stream.NextSeq > 0 ? stream.NextSeq - 1 : null,
            stream.HeldCount, stream.LastActiveMs, view, pending, filter);
    }

    private static long? SwitchSeq(StreamFilterSetting? setting) => setting is { SwitchSeq: >= 0 } ? setting.SwitchSeq : null;
}
