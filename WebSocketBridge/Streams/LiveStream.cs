namespace WebSocketBridge.Streams;

/// <summary>
/// One stream as the bridge sees it: the samples that arrived since the last frame, and the figures
/// <c>GET /streams</c> reports. The Kafka loop appends, the frame pump takes; a lock per stream keeps the two apart
/// (held for a copy, never across an await).
/// </summary>
/// <param name="retained">
/// The buffer capacity all streams may keep between frames beyond <see cref="InitialCapacity"/> (samples): a stream keeps
/// the room a frame needed only while this grants it, else it starts the next frame at <see cref="InitialCapacity"/>.
/// </param>
public sealed class LiveStream(string streamId, int maxPendingSamples, PendingBudget? budget = null, PendingBudget? retained = null)
{
    /// <summary>Pending buffers larger than this (samples) are let go once taken, so a burst does not stay held.</summary>
    public const int RetainedCapacity = 1 << 16;

    /// <summary>Samples a stream's buffers start with, and go back to when their room is not kept.</summary>
    public const int InitialCapacity = 256;

    /// <summary>
    /// Latencies (<c>pipeline_ms</c>, <c>e2e_ms</c>) a frame carries per stream: the newest chunks'. A stream of tiny chunks
    /// at a high rate would otherwise put thousands of numbers in every client's frame; <c>chunks</c> still counts all.
    /// </summary>
    public const int MaxLatenciesPerFrame = 64;

    private readonly PendingBudget _budget = budget ?? new PendingBudget(long.MaxValue);
    private readonly PendingBudget _retainedBudget = retained ?? new PendingBudget(long.MaxValue);
    private readonly Lock _lock = new();
    private double[] _raw = new double[InitialCapacity];
    private double[] _filtered = new double[InitialCapacity];
    private int _retained;
    private int _pending;
    private long _firstPosition;
    private readonly List<long> _pipelineMs = [];
    private readonly List<long> _endToEndMs = [];
    private long _seqFirst = -1;
    private long _seqLast = -1;
    private int _chunks;
    private long _lastTimestampMs;
    private long _lastProcessedMs;
    private long _lastReceivedMs;
    private long? _lastEndToEndMs;

    // Everything below is written under _lock and read by GET /streams through Snapshot().
    private string _algorithm = "";
    private long _totalSamples;
    private long _totalChunks;
    private long _overflowedSamples;
    private long _lastSeq = -1;
    private long _lastSeenMs;
    private bool _forgotten;
    private long _rateWindowStartMs;
    private long _rateWindowSamples;
    private double _rate;

    public string StreamId => streamId;

    public long LastSeenMs => Volatile.Read(ref _lastSeenMs);

    /// <summary>
    /// Adds one filtered chunk that arrived at <paramref name="receivedMs"/> (Unix ms); returns the pending samples it
    /// pushed out (0 unless nobody took frames for longer than <c>Bridge:MaxPendingSamplesPerStream</c> samples), or null
    /// when the stream has been forgotten (<see cref="Forget"/>): then nothing is taken or counted, and the chunk belongs
    /// to the stream the registry holds under this id now (<see cref="LiveStreamRegistry.Append(string, long, string, ReadOnlySpan{double}, ReadOnlySpan{double}, long, long, long)"/>).
    /// </summary>
    public long? Append(long seq, string algorithm, ReadOnlySpan<double> raw, ReadOnlySpan<double> filtered, long timestampMs, long processedMs, long receivedMs)
    {
        long dropped = 0;
        if (raw.Length != filtered.Length)
        {
            throw new ArgumentException("Raw and filtered signals differ in length.", nameof(filtered));
        }

        lock (_lock)
        {
            if (_forgotten)
            {
                // Nothing takes frames from a forgotten stream: what it took from the budget would never come back.
                return null;
            }

            if (_pending + raw.Length > maxPendingSamples)
            {
                // Nobody has taken frames for a long while (the pump is starved): start over rather than grow without bound.
                dropped = _pending;
                _overflowedSamples += _pending;
                _budget.Give(_pending);
                ResetPending();
            }

            // A frame's samples are contiguous (sample i at FirstPosition + i): after a chunk that is not shown, the stream's
            // later chunks are not shown either until the next frame, though the budget may have room again by then.
            var contiguous = _pending == 0 || _firstPosition + _pending == _totalSamples;
            if (contiguous && _budget.TryTake(raw.Length))
            {
                if (_pending == 0)
                {
                    _firstPosition = _totalSamples;
                }

                EnsureCapacity(_pending + raw.Length);
                raw.CopyTo(_raw.AsSpan(_pending));
                filtered.CopyTo(_filtered.AsSpan(_pending));
                _pending += raw.Length;

                if (_seqFirst < 0)
                {
                    _seqFirst = seq;
                }

                _seqLast = seq;
                _chunks++;
                if (_pipelineMs.Count == MaxLatenciesPerFrame)
                {
                    _pipelineMs.RemoveAt(0);
                    _endToEndMs.RemoveAt(0);
                }

                _pipelineMs.Add(processedMs - timestampMs);
                _endToEndMs.Add(receivedMs - timestampMs);
                _lastTimestampMs = timestampMs;
                _lastProcessedMs = processedMs;
                _lastReceivedMs = receivedMs;
            }
            else
            {
                // All streams together hold Bridge:MaxPendingSamples until the next frame, or an earlier chunk of this frame
                // was not shown: this chunk is not shown.
                dropped += raw.Length;
                _overflowedSamples += raw.Length;
            }

            _lastEndToEndMs = receivedMs - timestampMs;

            if (!string.Equals(_algorithm, algorithm, StringComparison.Ordinal))
            {
                _algorithm = algorithm;
            }

            _totalChunks++;
            _totalSamples += raw.Length;
            _lastSeq = seq;
            Volatile.Write(ref _lastSeenMs, receivedMs);
            UpdateRate(raw.Length, receivedMs);
        }

        return dropped;
    }

    /// <summary>Takes what arrived since the last call as a frame, or null when nothing did.</summary>
    public StreamFrame? TakeFrame()
    {
        lock (_lock)
        {
            if (_chunks == 0)
            {
                return null;
            }

            var frame = new StreamFrame(
                streamId,
                _algorithm,
                _seqFirst,
                _seqLast,
                _chunks,
                FirstPosition: _firstPosition,
                Raw: _raw.AsSpan(0, _pending).ToArray(),
                Filtered: _filtered.AsSpan(0, _pending).ToArray(),
                PipelineMs: [.. _pipelineMs],
                EndToEndMs: [.. _endToEndMs],
                TimestampMs: _lastTimestampMs,
                ProcessedMs: _lastProcessedMs,
                ReceivedMs: _lastReceivedMs,
                Rate: _rate);
            _budget.Give(_pending);
            ResetPending();
            KeepOrLetGoOfRoom();
            return frame;
        }
    }

    /// <summary>
    /// Forgets the stream if nothing arrived since <paramref name="cutoffMs"/> (Unix ms): lets go of what is pending,
    /// giving its room back, and refuses every later <see cref="Append"/>. False (nothing changed) when a chunk came since.
    /// </summary>
    public bool ForgetIfSilentSince(long cutoffMs)
    {
        lock (_lock)
        {
            // Checked under the lock, so a chunk appended after the registry saw the stream silent is not let go unseen.
            if (_lastSeenMs >= cutoffMs)
            {
                return false;
            }

            LetGoOfEverything();
            return true;
        }
    }

    /// <summary>Lets go of what is pending (the stream is forgotten), giving its room back; later appends are refused.</summary>
    public void Forget()
    {
        lock (_lock)
        {
            LetGoOfEverything();
        }
    }

    private void LetGoOfEverything()
    {
        _forgotten = true;
        _budget.Give(_pending);
        ResetPending();
        LetGoOfRoom();
    }

    /// <summary>Buffer capacity this stream keeps between frames beyond <see cref="InitialCapacity"/> (samples).</summary>
    public int RetainedSamples
    {
        get
        {
            lock (_lock)
            {
                return _retained;
            }
        }
    }

    /// <summary>
    /// After a frame: keeps the buffers' room for the next frame (no reallocation for a steady stream) if it is at most
    /// <see cref="RetainedCapacity"/> and the shared budget grants it; else goes back to <see cref="InitialCapacity"/>.
    /// So 10,000 streams that each took one large chunk keep at most the budget, not a megabyte each.
    /// </summary>
    private void KeepOrLetGoOfRoom()
    {
        var extra = _raw.Length - InitialCapacity;
        if (extra <= _retained)
        {
            return;
        }

        if (_raw.Length <= RetainedCapacity && _retainedBudget.TryTake(extra - _retained))
        {
            _retained = extra;
            return;
        }

        LetGoOfRoom();
    }

    private void LetGoOfRoom()
    {
        _retainedBudget.Give(_retained);
        _retained = 0;
        if (_raw.Length > InitialCapacity)
        {
            _raw = new double[InitialCapacity];
            _filtered = new double[InitialCapacity];
        }
    }

    /// <summary>The figures for <c>GET /streams</c>; the rate reads 0 once the stream has been silent for two seconds.</summary>
    public StreamSummary Snapshot(long nowMs)
    {
        lock (_lock)
        {
            var silent = nowMs - _lastSeenMs > 2000;
            return new StreamSummary(streamId, _algorithm, silent ? 0 : Math.Round(_rate, 1), _lastSeq, _totalChunks, _totalSamples, _lastSeenMs,
                _lastEndToEndMs, _overflowedSamples);
        }
    }

    private void UpdateRate(int samples, long nowMs)
    {
        if (_rateWindowStartMs == 0)
        {
            _rateWindowStartMs = nowMs;
        }

        _rateWindowSamples += samples;
        var elapsed = nowMs - _rateWindowStartMs;
        if (elapsed >= 1000)
        {
            _rate = _rateWindowSamples * 1000.0 / elapsed;
            _rateWindowStartMs = nowMs;
            _rateWindowSamples = 0;
        }
    }

    private void EnsureCapacity(int needed)
    {
        if (_raw.Length >= needed)
        {
            return;
        }

        var size = Math.Max(needed, _raw.Length * 2);
        Array.Resize(ref _raw, size);
        Array.Resize(ref _filtered, size);
    }

    private void ResetPending()
    {
        _pending = 0;
        _chunks = 0;
        _seqFirst = -1;
        _seqLast = -1;
        _pipelineMs.Clear();
        _endToEndMs.Clear();
    }
}

/// <summary>A stream in <c>GET /streams</c>.</summary>
/// <param name="Rate">Samples per second over the last second or so.</param>
/// <param name="LatencyMs">The last chunk's end-to-end latency at the bridge: arrival minus producer timestamp.</param>
/// <param name="OverflowedSamples">Samples discarded because no frame took them in time.</param>
public sealed record StreamSummary(
    string StreamId, string Algorithm, double Rate, long LastSeq, long Chunks, long Samples, long LastSeenMs, long? LatencyMs, long OverflowedSamples);
