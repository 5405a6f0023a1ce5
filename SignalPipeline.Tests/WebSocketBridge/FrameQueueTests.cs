using WebSocketBridge.Clients;

namespace SignalPipeline.Tests.WebSocketBridge;

public sealed class FrameQueueTests
{
    [Fact]
    public async Task A_full_queue_drops_its_oldest_frames_and_counts_them()
    {
        var dropped = new List<int>();
        var queue = new FrameQueue<int>(capacity: 3, dropped.Add);

        for (var i = 0; i < 10; i++)
        {
            Assert.True(queue.Offer(i)); // never waits, never refuses
        }

        Assert.Equal(7, queue.Dropped);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6], dropped);
        Assert.Equal(3, queue.Count);

        queue.Complete();
        var kept = new List<int>();
        await foreach (var item in queue.Reader.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token))
        {
            kept.Add(item);
        }

        Assert.Equal([7, 8, 9], kept);
    }

    [Fact]
    public async Task A_reader_that_keeps_up_loses_nothing()
    {
        var queue = new FrameQueue<int>(capacity: 2);
        var received = new List<int>();
        for (var i = 0; i < 100; i++)
        {
            queue.Offer(i);
            received.Add(await queue.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        }

        Assert.Equal(0, queue.Dropped);
        Assert.Equal(Enumerable.Range(0, 100), received);
    }

    [Fact]
    public void Offers_after_completion_are_refused()
    {
        var queue = new FrameQueue<string>(capacity: 1);
        queue.Complete();

        Assert.False(queue.Offer("late"));
        Assert.Equal(0, queue.Dropped);
    }
}
