using FilterKafkaProcessor.State;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The restore's count of streams left out: exact by id up to its cap, an upper bound past it, never more ids held.</summary>
public sealed class LeftOutStreamsTests
{
    [Fact]
    public void UpToTheCapTheCountIsOfTheStreamsLeftOutAtTheEnd()
    {
        var leftOut = new LeftOutStreams(maxIds: 3);
        leftOut.Add("a");
        leftOut.Add("b");
        leftOut.Add("a"); // a later checkpoint of a stream already left out
        leftOut.Remove("b"); // taken back by a later checkpoint, or a tombstone
        leftOut.Add("c");
        leftOut.Remove("never-left-out");

        Assert.Equal(2, leftOut.Count);
        Assert.True(leftOut.Exact);
        Assert.Equal(2, leftOut.Remembered);
    }

    [Fact]
    public void PastTheCapStreamsAreCountedNotRememberedAndTheCountIsAnUpperBound()
    {
        var leftOut = new LeftOutStreams(maxIds: 2);
        foreach (var stream in Enumerable.Range(0, 1000).Select(i => $"s{i}"))
        {
            leftOut.Add(stream);
        }

        Assert.Equal(2, leftOut.Remembered);
        Assert.Equal(1000, leftOut.Count);
        Assert.False(leftOut.Exact);

        // A remembered stream taken back leaves the count; one counted only cannot be told apart, so it stays counted.
        leftOut.Remove("s0");
        leftOut.Remove("s999");
        Assert.Equal(999, leftOut.Count);

        // A remembered stream left out again is not counted twice; the room freed is used again by id, then the next is counted.
        leftOut.Add("s1");
        Assert.Equal(999, leftOut.Count);
        leftOut.Add("new");
        Assert.Equal((2, 1000L), (leftOut.Remembered, leftOut.Count));
        leftOut.Add("newer");
        Assert.Equal((2, 1001L), (leftOut.Remembered, leftOut.Count));
    }
}
