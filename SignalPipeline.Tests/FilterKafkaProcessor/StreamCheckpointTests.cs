using FilterKafkaProcessor.State;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

public sealed class StreamCheckpointTests
{
    private static readonly Confluent.Kafka.TopicPartitionOffset Source = new("sample-input", 3, 77);

    [Fact]
    public void ACheckpointRoundTrips()
    {
        var checkpoint = new StreamCheckpoint(
            17,
            [1, 2, 3, 255],
            [
                new PendingChunk(19, [9, 8, 7], [new("content-type", "application/x-samples-f64"u8.ToArray()), new("seq", "19"u8.ToArray())], 1234, Source),
                new PendingChunk(21, [], [], 0, Source),
            ]);

        var copy = StreamCheckpoint.Deserialize(checkpoint.Serialize());

        Assert.Equal(17, copy.NextSeq);
        Assert.Equal(checkpoint.FilterState, copy.FilterState);
        Assert.Equal(2, copy.Held.Count);
        Assert.Equal(19, copy.Held[0].Seq);
        Assert.Equal(1234, copy.Held[0].TimestampMs);
        Assert.Equal([9, 8, 7], copy.Held[0].Value);
        Assert.Equal(["content-type", "seq"], copy.Held[0].Headers.Select(h => h.Key));
        Assert.Equal("19"u8.ToArray(), copy.Held[0].Headers[1].Value!);
        Assert.Empty(copy.Held[1].Value);
        Assert.Equal(Source, copy.Held[0].Source);
    }

    [Fact]
    public void AHeldChunksHeaderWithoutAValueStaysWithoutOneAndAnEmptyOneStaysEmpty()
    {
        var chunk = new PendingChunk(19, [9], [new("trace", null), new("empty", [])], 1234, Source);
        var bytes = new StreamCheckpoint(17, null, [chunk]).Serialize();

        var copy = StreamCheckpoint.Deserialize(bytes);

        Assert.Null(copy.Held[0].Headers[0].Value);
        Assert.Equal([], copy.Held[0].Headers[1].Value!);
        Assert.Equal(StreamCheckpoint.HeldChunkBytes(chunk.Value, chunk.Headers), bytes.Length - (1 + 8 + 4 + 4));
    }

    [Fact]
    public void ANewStreamHasNoFilterState()
    {
        var copy = StreamCheckpoint.Deserialize(new StreamCheckpoint(0, null, [new PendingChunk(3, [1], [], 5, Source)]).Serialize());
        Assert.Null(copy.FilterState);
        Assert.Equal(0, copy.NextSeq);
    }

    [Fact]
    public void CorruptCheckpointsAreRejected()
    {
        var bytes = new StreamCheckpoint(5, [1, 2], [new PendingChunk(7, [1], [], 5, Source)]).Serialize();
        Assert.Throws<FormatException>(() => StreamCheckpoint.Deserialize(bytes.AsSpan(0, bytes.Length - 1)));
        Assert.Throws<FormatException>(() => StreamCheckpoint.Deserialize([.. bytes, 0]));
        var wrongVersion = bytes.ToArray();
        wrongVersion[0] = 9;
        Assert.Throws<FormatException>(() => StreamCheckpoint.Deserialize(wrongVersion));

        // A held chunk that is not ahead of the next seq cannot come from a real checkpoint.
        var inconsistent = new StreamCheckpoint(7, null, [new PendingChunk(7, [1], [], 5, Source)]).Serialize();
        Assert.Throws<FormatException>(() => StreamCheckpoint.Deserialize(inconsistent));
    }

    [Fact]
    public void APartitionCheckpointRoundTrips()
    {
        var copy = PartitionCheckpoint.Deserialize(new PartitionCheckpoint(123_456_789_012, 42).Serialize());
        Assert.Equal(new PartitionCheckpoint(123_456_789_012, 42), copy);
        Assert.Throws<FormatException>(() => PartitionCheckpoint.Deserialize([1, 2, 3]));
    }
}
