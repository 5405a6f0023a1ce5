using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace SignalPipeline.Kafka;

/// <summary>
/// Says each thing librdkafka reports once, then summarises. While a broker is unreachable librdkafka reports the same
/// error on every reconnect attempt (several a second per client, every client of a service). An event (a client and
/// what it reported, e.g. its error code and text) is logged at once the first time; repeats within <see cref="Window"/>
/// are counted, not logged; when the window ends one line says how often it repeated, and a window without a repeat
/// ends it with one line saying so (how often and over how long it was reported). Fatal errors are not passed through here
/// (<see cref="KafkaClientFactory"/> logs them at once). At most <c>capacity</c> events are tracked: a new one beyond
/// that takes the place of the one seen least recently, whose summary is written first; at dispose (the client factory's,
/// when the service stops) the repeats not summarised yet are.
/// </summary>
public sealed partial class KafkaLogThrottle : IDisposable
{
    /// <summary>
    /// The interval librdkafka itself means to hold an identical broker error back for (rdkafka_broker.c); in 2.16.0 a
    /// refused connection was still reported on every attempt.
    /// </summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(30);

    public const int DefaultCapacity = 256;

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly int _capacity;
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Client, string Event), Repeats> _events = [];
    private ITimer? _timer;

    public KafkaLogThrottle(ILogger logger, TimeProvider? time = null, TimeSpan? window = null, int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _logger = logger;
        _time = time ?? TimeProvider.System;
        Window = window ?? DefaultWindow;
        _capacity = capacity;
    }

    /// <summary>How long repeats of an event are counted before one line summarises them.</summary>
    public TimeSpan Window { get; }

    /// <summary>Events being counted now (at most the capacity).</summary>
    public int Tracked
    {
        get
        {
            lock (_gate)
            {
                return _events.Count;
            }
        }
    }

    /// <summary>
    /// The part of a librdkafka message that names the event: without the suffix that changes on every repeat
    /// ("(after 3ms in state CONNECT, 4 identical error(s) suppressed)").
    /// </summary>
    public static string EventOf(string text) => VariableSuffix().Replace(text, "");

    /// <summary>Logs <paramref name="message"/> if <paramref name="client"/> has not reported <paramref name="eventKey"/> in the current window, else counts it.</summary>
    public void Log(LogLevel level, string client, string eventKey, string message)
    {
        var now = _time.GetUtcNow();
        KeyValuePair<(string Client, string Event), Repeats>? evicted = null;
        lock (_gate)
        {
            if (_events.TryGetValue((client, eventKey), out var repeats))
            {
                repeats.Count(message, now);
                return;
            }

            if (_events.Count >= _capacity)
            {
                var oldest = _events.MinBy(e => e.Value.LastSeen);
                _events.Remove(oldest.Key);
                evicted = oldest;
            }

            _events.Add((client, eventKey), new Repeats(level, message, now));
            // A timer only while something is tracked: a quiet client keeps none.
            _timer ??= _time.CreateTimer(_ => Flush(), null, Window / 6, Window / 6);
        }

        if (evicted is { } e && e.Value.InWindow > 0)
        {
            Summarise(e.Key.Client, e.Value, now);
        }

        _logger.Log(level, "[{Client}] {Message}", client, message);
    }

    /// <summary>Ends the windows that are over: a summary for each event that repeated, a last line for each that stopped.</summary>
    public void Flush()
    {
        var now = _time.GetUtcNow();
        var summaries = new List<(string Client, Repeats Repeats, bool Stopped)>();
        lock (_gate)
        {
            foreach (var (key, repeats) in _events)
            {
                if (now - repeats.WindowStart < Window)
                {
                    continue;
                }

                if (repeats.InWindow > 0)
                {
                    summaries.Add((key.Client, repeats.Snapshot(), false));
                    repeats.StartWindow(now);
                }
                else
                {
                    _events.Remove(key);
                    if (repeats.Total > 1)
                    {
                        summaries.Add((key.Client, repeats, true));
                    }
                }
            }

            if (_events.Count == 0)
            {
                _timer?.Dispose();
                _timer = null;
            }
        }

        foreach (var (client, repeats, stopped) in summaries)
        {
            if (stopped)
            {
                // Not "recovered": a client that has nothing to ask the cluster stops trying (and reporting) while it is down.
                _logger.LogInformation("[{Client}] not repeated for {Quiet} s ({Total} times in {Seconds} s): {Message}",
                    client, Seconds(now - repeats.LastSeen), repeats.Total, Seconds(repeats.LastSeen - repeats.FirstSeen), repeats.Last);
            }
            else
            {
                Summarise(client, repeats, now);
            }
        }
    }

    /// <summary>Stops the timer and says the repeats not summarised yet, so a process that stops mid-window keeps its count.</summary>
    public void Dispose()
    {
        var now = _time.GetUtcNow();
        List<((string Client, string Event) Key, Repeats Repeats)> pending;
        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;
            pending = [.. _events.Where(e => e.Value.InWindow > 0).Select(e => (e.Key, e.Value))];
            _events.Clear();
        }

        foreach (var (key, repeats) in pending)
        {
            Summarise(key.Client, repeats, now);
        }
    }

    private void Summarise(string client, Repeats repeats, DateTimeOffset now)
        => _logger.Log(repeats.Level, "[{Client}] repeated {Repeats} times in the last {Seconds} s: {Message}",
            client, repeats.InWindow, Seconds(now - repeats.WindowStart), repeats.Last);

    private static long Seconds(TimeSpan span) => (long)Math.Round(span.TotalSeconds);

    [GeneratedRegex(@" \(after \d+ms in state .*\)$")]
    private static partial Regex VariableSuffix();

    private sealed class Repeats(LogLevel level, string message, DateTimeOffset now)
    {
        public LogLevel Level { get; } = level;

        public string Last { get; private set; } = message;

        public DateTimeOffset FirstSeen { get; } = now;

        public DateTimeOffset LastSeen { get; private set; } = now;

        public DateTimeOffset WindowStart { get; private set; } = now;

        /// <summary>Repeats since <see cref="WindowStart"/>, not logged yet.</summary>
        public int InWindow { get; private set; }

        public long Total { get; private set; } = 1;

        public void Count(string message, DateTimeOffset now)
        {
            Last = message;
            LastSeen = now;
            InWindow++;
            Total++;
        }

        public void StartWindow(DateTimeOffset now)
        {
            WindowStart = now;
            InWindow = 0;
        }

        public Repeats Snapshot() => (Repeats)MemberwiseClone();
    }
}
