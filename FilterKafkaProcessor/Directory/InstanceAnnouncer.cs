using FilterKafkaProcessor.Inspection;

namespace FilterKafkaProcessor.Directory;

/// <summary>
/// Decides when this instance announces itself (pure apart from <paramref name="publish"/>): at once when its input
/// partitions change, else every heartbeat; and which long-expired entries it removes from the topic (a crashed
/// instance leaves no tombstone; one removed by mistake announces itself again at its next heartbeat).
/// </summary>
public sealed class InstanceAnnouncer(StreamInstance self, string url, InstanceDirectoryOptions options, InstanceDirectory directory, TimeProvider time, Action<InstanceEntry> publish, Action<string> remove)
{
    /// <summary>Entries not announced for this many heartbeats are removed from the topic by whoever sees them.</summary>
    public const int RemoveAfterHeartbeats = 60;

    private IReadOnlyList<int>? _partitions;
    private long _nextMs = long.MinValue;

    public string Url => url;

    /// <summary>Called about every second with the partitions the stream thread holds (null: it did not say; the last known stay).</summary>
    public void Tick(IReadOnlyList<int>? partitions)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var changed = partitions is not null && (_partitions is null || !_partitions.SequenceEqual(partitions));
        _partitions = partitions ?? _partitions;
        if (!changed && now < _nextMs)
        {
            return;
        }

        var entry = new InstanceEntry(self.Id, url, _partitions ?? [], now);
        publish(entry);
        directory.Apply(self.Id, entry); // this instance knows itself before its record comes back
        _nextMs = now + (long)options.Heartbeat.TotalMilliseconds;
        foreach (var gone in directory.Prune(options.Heartbeat * RemoveAfterHeartbeats))
        {
            remove(gone);
        }
    }
}
