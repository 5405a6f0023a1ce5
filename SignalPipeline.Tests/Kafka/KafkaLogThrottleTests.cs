using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.Kafka;

public sealed class KafkaLogThrottleTests
{
    private const string Refused = "Kafka error Local_Transport: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)";
    private const string RefusedEvent = "Local_Transport: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused";

    private readonly FakeTimeProvider _time = new();
    private readonly FakeLogger _log = new();

    [Fact]
    public void TheFirstIsLoggedRepeatsAreCountedThenSummarisedOnceAWindowAndTheEndIsSaid()
    {
        using var throttle = new KafkaLogThrottle(_log, _time);

        // An unreachable cluster: the same error every 100 ms, for 5 s.
        Repeat(throttle, "rdkafka#producer-1", 50);
        var first = Assert.Single(_log.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Warning, first.Level);
        Assert.Equal("[rdkafka#producer-1] " + Refused, first.Message);

        _time.Advance(throttle.Window - TimeSpan.FromSeconds(5));
        var summary = Assert.Single(_log.Collector.GetSnapshot(), r => r.Message.Contains("repeated"));
        Assert.Equal(LogLevel.Warning, summary.Level);
        Assert.Equal("[rdkafka#producer-1] repeated 49 times in the last 30 s: " + Refused, summary.Message);

        // Still down in the next window: one more summary, nothing else.
        Repeat(throttle, "rdkafka#producer-1", 10);
        _time.Advance(throttle.Window - TimeSpan.FromSeconds(1));
        Assert.Equal(3, _log.Collector.Count);
        Assert.Equal("[rdkafka#producer-1] repeated 10 times in the last 30 s: " + Refused, _log.LatestRecord.Message);

        // A window without it: one line saying so, then nothing is tracked.
        _time.Advance(throttle.Window);
        Assert.Equal(4, _log.Collector.Count);
        Assert.Equal(LogLevel.Information, _log.LatestRecord.Level);
        Assert.Equal("[rdkafka#producer-1] not repeated for 59 s (60 times in 31 s): " + Refused, _log.LatestRecord.Message);
        Assert.Equal(0, throttle.Tracked);

        // And the next outage is logged at once again.
        throttle.Log(LogLevel.Warning, "rdkafka#producer-1", RefusedEvent, Refused);
        Assert.Equal(5, _log.Collector.Count);
        Assert.Equal("[rdkafka#producer-1] " + Refused, _log.LatestRecord.Message);
    }

    [Fact]
    public void RepeatsNotSummarisedYetAreSaidWhenItIsDisposed()
    {
        var throttle = new KafkaLogThrottle(_log, _time);
        Repeat(throttle, "rdkafka#producer-1", 5);
        throttle.Log(LogLevel.Warning, "rdkafka#consumer-2", RefusedEvent, Refused);

        // The service stops 3 s into the window: the four repeats are said, the event seen once has nothing to add.
        _time.Advance(TimeSpan.FromSeconds(2.5));
        throttle.Dispose();

        Assert.Equal(3, _log.Collector.Count);
        Assert.Equal("[rdkafka#producer-1] repeated 4 times in the last 3 s: " + Refused, _log.LatestRecord.Message);
        Assert.Equal(0, throttle.Tracked);
        throttle.Dispose();
        _time.Advance(throttle.Window);
        Assert.Equal(3, _log.Collector.Count);
    }

    [Fact]
    public void AnotherClientOrAnotherEventIsNotARepeat()
    {
        using var throttle = new KafkaLogThrottle(_log, _time);

        throttle.Log(LogLevel.Warning, "rdkafka#producer-1", RefusedEvent, Refused);
        throttle.Log(LogLevel.Warning, "rdkafka#consumer-2", RefusedEvent, Refused);
        throttle.Log(LogLevel.Warning, "rdkafka#producer-1", "Local_AllBrokersDown: 1/1 brokers are down", "Kafka error Local_AllBrokersDown: 1/1 brokers are down");
        throttle.Log(LogLevel.Warning, "rdkafka#producer-1", RefusedEvent, Refused);

        Assert.Equal(3, _log.Collector.Count);
        Assert.Equal(3, throttle.Tracked);
    }

    [Fact]
    public void AnEventSeenOnceEndsWithoutALine()
    {
        using var throttle = new KafkaLogThrottle(_log, _time);

        throttle.Log(LogLevel.Warning, "rdkafka#producer-1", RefusedEvent, Refused);
        _time.Advance(throttle.Window);

        Assert.Equal(1, _log.Collector.Count);
        Assert.Equal(0, throttle.Tracked);
    }

    [Fact]
    public void TheTableIsBoundedAndAnEventItDropsHasItsRepeatsSaidFirst()
    {
        using var throttle = new KafkaLogThrottle(_log, _time, capacity: 4);

        for (var broker = 0; broker < 100; broker++)
        {
            var reason = $"Local_Transport: kafka-{broker}:9092/{broker}: Connect failed";
            throttle.Log(LogLevel.Warning, "rdkafka#producer-1", reason, "Kafka error " + reason);
            _time.Advance(TimeSpan.FromMilliseconds(10));
            throttle.Log(LogLevel.Warning, "rdkafka#producer-1", reason, "Kafka error " + reason);
            _time.Advance(TimeSpan.FromMilliseconds(10));
            Assert.True(throttle.Tracked <= 4);
        }

        // Each broker's first line, and for each of the 96 pushed out its one repeat, said before the newcomer.
        var lines = _log.Collector.GetSnapshot();
        Assert.Equal(100, lines.Count(r => !r.Message.Contains("repeated")));
        Assert.Equal(96, lines.Count(r => r.Message.Contains("repeated 1 times")));
        Assert.Contains("kafka-0:9092", lines[4].Message);
        Assert.Contains("kafka-4:9092", lines[5].Message);
    }

    [Theory]
    [InlineData("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)")]
    [InlineData("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 1027ms in state CONNECT, 3 identical error(s) suppressed)")]
    [InlineData("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused")]
    public void WhatChangesFromOneRepeatToTheNextIsNotPartOfTheEvent(string reason)
        => Assert.Equal("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused", KafkaLogThrottle.EventOf(reason));

    private void Repeat(KafkaLogThrottle throttle, string client, int times)
    {
        for (var i = 0; i < times; i++)
        {
            throttle.Log(LogLevel.Warning, client, RefusedEvent, Refused);
            _time.Advance(TimeSpan.FromMilliseconds(100));
        }
    }
}
