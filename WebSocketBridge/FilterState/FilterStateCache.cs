using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace WebSocketBridge.FilterState;

/// <summary>
/// Asks the processor for a stream's filter state (<c>GET {processor}/streams/{id}</c>) at most once per
/// <see cref="FilterStateOptions.FilterStateCacheMilliseconds"/> per stream, whatever the number of pages asking: the
/// bridge's rule that cost does not grow with clients. Requests that arrive while a call is under way share it. Failures
/// are cached as well, so a processor that is down is not asked more often than one that answers. Bounded: calls at once
/// (<see cref="FilterStateOptions.MaxFilterStateCalls"/>), streams held (<see cref="FilterStateOptions.MaxFilterStateStreams"/>),
/// a timeout and a largest answer; past a bound the answer is immediate and nothing is called.
/// </summary>
public sealed class FilterStateCache(IOptions<FilterStateOptions> options, FilterStateMetrics metrics,
    TimeProvider time, ILogger<FilterStateCache> logger) : IDisposable
{
    private readonly FilterStateOptions _options = options.Value;

    // One long-lived client, not the factory's: the service defaults give factory clients retries and their own timeouts,
    // which would multiply calls behind the cache's back. Pooled connections are renewed so DNS changes are seen.
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
    {
        BaseAddress = options.Value.IsConfigured ? new Uri(options.Value.ProcessorUrl.TrimEnd('/') + "/") : null,
        Timeout = Timeout.InfiniteTimeSpan,
    };
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private int _calls;

    /// <summary>Streams held now (tests and diagnostics).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>The stream's answer: cached, shared with a call under way, or from a new call.</summary>
    public Task<FilterStateAnswer> GetAsync(string streamId)
    {
        var now = time.GetTimestamp();
        Entry entry;
        lock (_lock)
        {
            if (_entries.TryGetValue(streamId, out var held) && (!held.Answer.IsCompleted || now < held.ExpiresAt))
            {
                return held.Answer;
            }

            if (held is null && _entries.Count >= _options.MaxFilterStateStreams && !Sweep(now))
            {
                return Task.FromResult(new FilterStateAnswer(FilterStateResult.StreamsLimit, null,
                    $"The bridge holds the filter state of at most {_options.MaxFilterStateStreams} streams at once (Bridge:MaxFilterStateStreams); try again shortly."));
            }

            if (_calls >= _options.MaxFilterStateCalls)
            {
                return Task.FromResult(new FilterStateAnswer(FilterStateResult.Busy, null,
                    $"The bridge asks the processor about at most {_options.MaxFilterStateCalls} streams at once (Bridge:MaxFilterStateCalls); try again shortly."));
            }

            _calls++;
            entry = new Entry();
            _entries[streamId] = entry;
        }

        // Started outside the lock: the call's synchronous part (connect) must not hold up other streams.
        _ = CallAsync(streamId, entry);
        return entry.Answer;
    }

    /// <summary>Drops expired answers; true when room was made. Runs only when the table is full.</summary>
    private bool Sweep(long now)
    {
        foreach (var (id, entry) in _entries)
        {
            if (entry.Answer.IsCompleted && now >= entry.ExpiresAt)
            {
                _entries.Remove(id);
            }
        }

        return _entries.Count < _options.MaxFilterStateStreams;
    }

    private async Task CallAsync(string streamId, Entry entry)
    {
        var started = Stopwatch.GetTimestamp();
        FilterStateAnswer answer;
        string tag;
        try
        {
            (answer, tag) = await AskProcessorAsync(streamId);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Asking the processor about stream {StreamId} failed unexpectedly", streamId);
            (answer, tag) = (Unavailable("the call failed"), "unavailable");
        }

        lock (_lock)
        {
            _calls--;
            entry.ExpiresAt = time.GetTimestamp() + (long)(_options.FilterStateCacheMilliseconds / 1000.0 * time.TimestampFrequency);
        }

        metrics.Call(tag, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        entry.Complete(answer);
    }

    private async Task<(FilterStateAnswer Answer, string Tag)> AskProcessorAsync(string streamId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(_options.FilterStateTimeoutMilliseconds), time);
        try
        {
            using var response = await _http.GetAsync("streams/" + Uri.EscapeDataString(streamId), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                // The processor's own detail names its instance and partitions: not for a public page.
                return (new FilterStateAnswer(FilterStateResult.NotFound, null,
                    $"The processor does not hold stream '{streamId}' now: no instance holds it (no chunk yet, or evicted as idle); try again."), "not_found");
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                logger.LogDebug("The processor answered {Status} for stream {StreamId}", (int)response.StatusCode, streamId);
                return (Unavailable($"the processor answered {(int)response.StatusCode}"), "unavailable");
            }

            var json = await ReadBoundedAsync(response.Content, timeout.Token);
            if (json is null)
            {
                return (Unavailable($"the processor's answer is over {_options.MaxFilterStateBytes} bytes (Bridge:MaxFilterStateBytes)"), "too_large");
            }

            using (JsonDocument.Parse(json))
            {
                // Only checked: the page gets the processor's bytes as they are.
            }

            return (new FilterStateAnswer(FilterStateResult.Ok, json, ""), "ok");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return (new FilterStateAnswer(FilterStateResult.Timeout, null,
                $"The processor did not answer within {_options.FilterStateTimeoutMilliseconds} ms (Bridge:FilterStateTimeoutMilliseconds); try again."), "timeout");
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or IOException)
        {
            logger.LogDebug(e, "Asking the processor about stream {StreamId} failed", streamId);
            return (Unavailable(e is JsonException ? "the processor's answer is not JSON" : "the processor cannot be reached"), "unavailable");
        }
    }

    private static FilterStateAnswer Unavailable(string why) =>
        new(FilterStateResult.Unavailable, null, $"The filter state is not available: {why}; try again.");

    /// <summary>The body, or null when it is longer than <see cref="FilterStateOptions.MaxFilterStateBytes"/> (not read further).</summary>
    private async Task<byte[]?> ReadBoundedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > _options.MaxFilterStateBytes)
        {
            return null;
        }

        await using var body = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > _options.MaxFilterStateBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    public void Dispose() => _http.Dispose();

    private sealed class Entry
    {
        // Continuations run elsewhere: completing the answer must not run every waiting request on the call's thread.
        private readonly TaskCompletionSource<FilterStateAnswer> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<FilterStateAnswer> Answer => _answer.Task;

        public void Complete(FilterStateAnswer answer) => _answer.SetResult(answer);

        /// <summary>When the answer stops being served (a <see cref="TimeProvider"/> timestamp); set when the call ends.</summary>
        public long ExpiresAt { get; set; } = long.MaxValue;
    }
}
