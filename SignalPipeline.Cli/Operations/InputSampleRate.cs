using Confluent.Kafka;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// Finds a stream's sample rate on the input topic: output chunks do not carry it, input chunks may. Reads only from a
/// little before the output chunk's input timestamp (Kafka's offsets-for-times), so a long-retained input is not scanned.
/// </summary>
public static class InputSampleRate
{
    private static readonly TimeSpan LookBack = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The rate of the first chunk of <paramref name="streamId"/> that has one, or null when none is there up to the
    /// partitions' ends. Gives up only when the cluster answers nothing for <paramref name="noProgress"/>.
    /// </summary>
    /// <exception cref="TimeoutException">Nothing came for <paramref name="noProgress"/>: not read to the end, so not "no rate".</exception>
    public static double? Find(KafkaClientFactory factory, string inputTopic, string streamId, long inputTimestampMs, TimeSpan noProgress)
    {
        using var consumer = factory.CreateConsumer<byte[], byte[]>($"signal-pipeline-cli-{Guid.NewGuid():N}", config =>
        {
            config.EnableAutoCommit = false;
            config.EnablePartitionEof = true;
        });
        var partitions = KafkaConnection.TopicPartitions(factory, inputTopic, noProgress);
        var from = Math.Max(0, inputTimestampMs - (long)LookBack.TotalMilliseconds);
        List<TopicPartitionOffset> starts;
        try
        {
            starts = [.. consumer.OffsetsForTimes([.. partitions.Select(p => new TopicPartitionTimestamp(p, new Timestamp(from, TimestampType.CreateTime)))], noProgress)
                .Where(p => p.Offset != Offset.End && p.Offset.Value >= 0)];
        }
        catch (KafkaException)
        {
            starts = [];
        }

        if (starts.Count == 0)
        {
            // No partition has a record that recent by the broker's index, or the broker cannot search by time (the dev
            // broker answers every such search with the end): read what it keeps.
            starts = [.. partitions.Select(p => new TopicPartitionOffset(p, Offset.Beginning))];
        }

        double? rate = null;
        PartitionScan.ToEnds(consumer, starts, null, noProgress, record =>
        {
            if (record.Message.Key is { } key && System.Text.Encoding.UTF8.GetString(key) == streamId
                && SampleCodec.TryDecodeSampleChunk(key, record.Message.Value ?? [], record.Message.Headers, out var chunk, out _, limits: new DecodeLimits { MaxSamples = 1 << 24 }))
            {
                rate = chunk.SampleRate;
                return false;
            }

            return true;
        });
        return rate;
    }
}
