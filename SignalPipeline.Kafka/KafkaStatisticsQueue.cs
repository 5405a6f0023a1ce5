using System.Threading.Channels;

namespace SignalPipeline.Kafka;

/// <summary>
/// Takes librdkafka's statistics JSON off the client's own thread (statistics arrive inside <c>Consume</c>/<c>Poll</c>,
/// so in the processor inside its hot loop) and hands each document to a single background reader that parses it, as
/// Aspire's Confluent.Kafka client integration does with its metrics channel. The handler only enqueues. The queue is
/// bounded and drops the oldest document when full: each document is a complete, cumulative snapshot of its client, so
/// a dropped one is superseded by the next and loses nothing but freshness.
/// </summary>
internal sealed class KafkaStatisticsQueue : IDisposable
{
    /// <summary>Documents waiting to be parsed; a few per client is plenty (one arrives every statistics interval).</summary>
    public const int DefaultCapacity = 64;

    private readonly Channel<PendingStatistics> _channel;
    private readonly Action<PendingStatistics> _record;
    private readonly Action<Exception> _failed;
    private Task? _reader;
    private long _dropped;

    /// <param name="record">Parses and stores one document (on the reader, never on the client's thread).</param>
    /// <param name="failed">Told of a document <paramref name="record"/> could not take (e.g. unreadable JSON).</param>
    /// <param name="capacity">Documents held before the oldest is dropped.</param>
    /// <param name="start">False leaves the reader stopped until <see cref="Start"/> (tests fill the queue first).</param>
    public KafkaStatisticsQueue(Action<PendingStatistics> record, Action<Exception> failed, int capacity = DefaultCapacity, bool start = true)
    {
        _record = record;
        _failed = failed;
        _channel = Channel.CreateBounded<PendingStatistics>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => Interlocked.Increment(ref _dropped));
        if (start)
        {
            Start();
        }
    }

    /// <summary>Documents dropped because the reader fell <see cref="DefaultCapacity"/> behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Enqueues a document; never blocks and never parses (called on librdkafka's thread).</summary>
    public void Post(string json, string? groupId, TimeSpan interval) => _channel.Writer.TryWrite(new(json, groupId, interval));

    public void Start() => _reader ??= Task.Run(ReadAsync);

    private async Task ReadAsync()
    {
        await foreach (var statistics in _channel.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                _record(statistics);
            }
            catch (Exception e)
            {
                // Metrics are not worth stopping the reader for: the next document replaces this one.
                _failed(e);
            }
        }
    }

    /// <summary>Stops taking documents; the reader finishes those already queued.</summary>
    public void Dispose() => _channel.Writer.TryComplete();
}

/// <summary>One statistics document as librdkafka delivered it, with what the handler knew about its client.</summary>
internal readonly record struct PendingStatistics(string Json, string? GroupId, TimeSpan Interval);
