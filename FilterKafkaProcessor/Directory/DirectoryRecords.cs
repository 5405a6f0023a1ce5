using System.Text;
using Confluent.Kafka;

namespace FilterKafkaProcessor.Directory;

/// <summary>
/// Applies the directory topic's records to an <see cref="InstanceDirectory"/> (pure: no Kafka client; <see cref="DirectoryLink"/>
/// reads them). A record that is no valid announcement, or one dated more than the entries' expiry ahead of this
/// instance's clock, or a new instance's while the directory holds <see cref="InstanceDirectory.MaxEntries"/> live
/// entries, is ignored: counted in <c>signalpipeline.processor.instances.ignored{reason=invalid|ahead|full}</c>, and
/// of each kind the 1st, 10th, 100th, ... is logged (<see cref="RepeatedWarning"/>): whoever can write the topic must not
/// fill every instance's log.
/// </summary>
public sealed class DirectoryRecords(ILogger logger, DirectoryTelemetry? telemetry = null)
{
    /// <summary>Reasons of <c>signalpipeline.processor.instances.ignored</c>.</summary>
    public const string InvalidReason = "invalid", AheadReason = "ahead", FullReason = "full";

    private long _invalid;
    private long _ahead;
    private long _full;

    /// <summary>Records ignored as no valid announcement.</summary>
    public long Invalid => Interlocked.Read(ref _invalid);

    /// <summary>Announcements ignored as dated more than the expiry ahead of this instance's clock.</summary>
    public long Ahead => Interlocked.Read(ref _ahead);

    /// <summary>Announcements of new instances ignored as the directory held <see cref="InstanceDirectory.MaxEntries"/> live entries.</summary>
    public long Full => Interlocked.Read(ref _full);

    /// <summary>Applies the record at <paramref name="source"/> (a null <paramref name="value"/> is a tombstone) to <paramref name="directory"/>.</summary>
    public void Apply(TopicPartitionOffset source, byte[]? key, byte[]? value, InstanceDirectory directory)
    {
        var instance = Encoding.UTF8.GetString(key ?? []);
        if (value is null)
        {
            directory.Apply(instance, null);
        }
        else if (InstanceEntry.Deserialize(instance, value, out var error) is { } entry)
        {
            var applied = directory.Apply(instance, entry);
            if (applied == DirectoryApply.Ahead)
            {
                var ahead = Ignore(ref _ahead, AheadReason);
                if (RepeatedWarning.IsLogged(ahead))
                {
                    logger.LogWarning("Directory record at {Source} is ignored: announced at {AtMs} (Unix ms), more than the entries' expiry ahead of this instance's clock "
                        + "(records dated that far ahead so far: {Ahead}; the 1st, 10th, 100th, ... is logged)", source, entry.AtMs, ahead);
                }
            }
            else if (applied == DirectoryApply.Full)
            {
                var full = Ignore(ref _full, FullReason);
                if (RepeatedWarning.IsLogged(full))
                {
                    logger.LogWarning("Directory record at {Source} is ignored: '{Instance}' is a new instance and the directory holds {MaxEntries} live entries "
                        + "(new instances ignored so far: {Full}; the 1st, 10th, 100th, ... is logged)", source, instance, directory.MaxEntryCount, full);
                }
            }
        }
        else
        {
            var invalid = Ignore(ref _invalid, InvalidReason);
            if (RepeatedWarning.IsLogged(invalid))
            {
                logger.LogWarning("Directory record at {Source} is ignored: {Error} (invalid directory records so far: {Invalid}; the 1st, 10th, 100th, ... is logged)",
                    source, error, invalid);
            }
        }
    }

    private long Ignore(ref long count, string reason)
    {
        telemetry?.Ignored(reason);
        return Interlocked.Increment(ref count);
    }
}
