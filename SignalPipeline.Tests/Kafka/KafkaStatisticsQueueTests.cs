using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.Kafka;

/// <summary>librdkafka's statistics are parsed off the client's thread, by one reader, dropping the oldest when behind.</summary>
public sealed class KafkaStatisticsQueueTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public void The_document_is_recorded_on_another_thread_than_the_one_that_posts_it()
    {
        var recordedOn = -1;
        using var recorded = new ManualResetEventSlim();
        using var queue = new KafkaStatisticsQueue(_ =>
        {
            recordedOn = Environment.CurrentManagedThreadId;
            recorded.Set();
        }, _ => { });

        // The posting thread blocks until the document is recorded: an inline record would run on it.
        queue.Post("{}", null, TimeSpan.FromSeconds(5));

        Assert.True(recorded.Wait(Timeout));
        Assert.NotEqual(Environment.CurrentManagedThreadId, Volatile.Read(ref recordedOn));
    }

    [Fact]
    public void When_the_reader_is_behind_the_oldest_documents_are_dropped_and_counted()
    {
        var recorded = new List<string>();
        using var fifth = new ManualResetEventSlim();
        using var queue = new KafkaStatisticsQueue(
            s =>
            {
                lock (recorded)
                {
                    recorded.Add(s.Json);
                }

                if (s.Json == "e")
                {
                    fifth.Set();
                }
            },
            _ => { }, capacity: 2, start: false);

        foreach (var json in new[] { "a", "b", "c", "d", "e" })
        {
            queue.Post(json, null, TimeSpan.FromSeconds(5));
        }

        Assert.Equal(3, queue.Dropped);
        queue.Start();
        Assert.True(fifth.Wait(Timeout));
        lock (recorded)
        {
            Assert.Equal(["d", "e"], recorded);
        }
    }

    [Fact]
    public void An_unreadable_document_is_reported_and_the_reader_goes_on()
    {
        var failures = new List<Exception>();
        using var second = new ManualResetEventSlim();
        using var queue = new KafkaStatisticsQueue(
            s =>
            {
                if (s.Json == "second")
                {
                    second.Set();
                    return;
                }

                throw new System.Text.Json.JsonException("not JSON");
            },
            e =>
            {
                lock (failures)
                {
                    failures.Add(e);
                }
            });

        queue.Post("first", null, TimeSpan.FromSeconds(5));
        queue.Post("second", null, TimeSpan.FromSeconds(5));

        Assert.True(second.Wait(Timeout));
        lock (failures)
        {
            Assert.IsType<System.Text.Json.JsonException>(Assert.Single(failures));
        }
    }

    [Fact]
    public void Posted_statistics_reach_the_metrics_and_bad_json_does_not_throw_at_the_poster()
    {
        using var metrics = new KafkaMetrics();
        using var collector = new KafkaMetricCollector();
        var name = $"rdkafka#producer-{Guid.NewGuid():N}";

        metrics.Post("{ not json", null, TimeSpan.FromSeconds(5));
        metrics.Post($$"""{ "name": "{{name}}", "type": "producer", "txmsgs": 42, "txmsg_bytes": 4200 }""", null, TimeSpan.FromSeconds(30));

        var deadline = DateTime.UtcNow + Timeout;
        long? produced = null;
        while (produced is null && DateTime.UtcNow < deadline)
        {
            produced = collector.Latest(KafkaMetrics.ProducedMessages, name);
            Thread.Sleep(20);
        }

        Assert.Equal(42, produced);
    }
}
