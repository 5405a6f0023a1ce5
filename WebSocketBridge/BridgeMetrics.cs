using System.Diagnostics.Metrics;

namespace WebSocketBridge;

/// <summary>The bridge's instruments, on the <c>SignalPipeline.Bridge</c> meter (exported by the service defaults).</summary>
public sealed class BridgeMetrics
{
    public const string MeterName = "SignalPipeline.Bridge";

    private readonly UpDownCounter<long> _clients;
    private readonly Counter<long> _framesSent;
    private readonly Counter<long> _framesDropped;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _chunks;
    private readonly Counter<long> _samples;
    private readonly Counter<long> _undecodable;
    private readonly Histogram<double> _frameDelay;
    private readonly Counter<long> _streamsRefused;
    private readonly Counter<long> _closed;
    private readonly Counter<long> _overflowed;
    private readonly Counter<long> _throttled;
    private readonly Counter<long> _requestsRejected;
    private readonly Meter _meter;
    private long _consumerLag;

    public BridgeMetrics(IMeterFactory meterFactory)
    {
        var meter = _meter = meterFactory.Create(MeterName);
        _clients = meter.CreateUpDownCounter<long>("signalpipeline.bridge.clients", "{client}", "Connected WebSocket clients.");
        _framesSent = meter.CreateCounter<long>("signalpipeline.bridge.frames.sent", "{frame}", "Data frames sent to clients.");
        _framesDropped = meter.CreateCounter<long>("signalpipeline.bridge.frames.dropped", "{frame}",
            "Frames a client did not get: dropped from its full queue (Bridge:ClientQueueFrames; it reads slower than frames come), or not offered to it while it was behind and the beats clients hold were over Bridge:MaxHeldFrameBytes.");
        _rejected = meter.CreateCounter<long>("signalpipeline.bridge.connections.rejected", "{connection}",
            "WebSocket upgrades refused, by reason (origin, limit, address_limit, address_rate), and connections closed unanswered as soon as accepted (tcp_address_limit: Bridge:MaxHttpConnectionsPerAddress).");
        _streamsRefused = meter.CreateCounter<long>("signalpipeline.bridge.streams.refused", "{chunk}",
            "Chunks skipped because Bridge:MaxStreams streams are already held.");
        _closed = meter.CreateCounter<long>("signalpipeline.bridge.clients.closed", "{client}",
            "Clients the bridge disconnected, by reason (subscription_limit, idle, send_timeout, held_frames, keepalive_timeout, protocol); each client once, under the first reason.");
        _chunks = meter.CreateCounter<long>("signalpipeline.bridge.chunks.consumed", "{chunk}", "Filtered chunks read from the output topic.");
        _samples = meter.CreateCounter<long>("signalpipeline.bridge.samples.consumed", "{sample}", "Samples read from the output topic.");
        _undecodable = meter.CreateCounter<long>("signalpipeline.bridge.chunks.undecodable", "{chunk}", "Records of the output topic that could not be decoded (skipped).");
        _overflowed = meter.CreateCounter<long>("signalpipeline.bridge.samples.overflowed", "{sample}",
            "Samples discarded before any frame took them: a stream's pending samples at Bridge:MaxPendingSamplesPerStream, a chunk finding all streams at Bridge:MaxPendingSamples, and that stream's later chunks until its next frame (a frame carries no gap).");
        _throttled = meter.CreateCounter<long>("signalpipeline.bridge.messages.throttled", "{frame}",
            "Client WebSocket frames (commands, fragments, pings) read later because the client sent more than Bridge:ClientMessagesPerSecond.");
        _requestsRejected = meter.CreateCounter<long>("signalpipeline.bridge.requests.rejected", "{request}",
            "HTTP requests answered 429 because their address made more than Bridge:RequestsPerAddressPerSecond (reason rate).");
        _frameDelay = meter.CreateHistogram<double>("signalpipeline.bridge.frame.delay", "ms",
            "From the arrival of a frame's newest chunk to the frame's hand-over to the client's socket.");
        Addresses = new AddressTableInstruments(meter, "signalpipeline.bridge", "Bridge:MaxTrackedAddresses");
        meter.CreateObservableGauge("signalpipeline.bridge.consumer.lag", () => Interlocked.Read(ref _consumerLag), "{message}",
            "Records in the output topic not yet read by this bridge (high watermark minus position, all partitions).");
    }

    /// <summary>The gauge of the bytes of beats clients hold (<c>Bridge:MaxHeldFrameBytes</c>).</summary>
    public void ObserveHeldFrames(Func<long> bytes) => _meter.CreateObservableGauge("signalpipeline.bridge.frames.held", bytes, "By",
        "Bytes of beats clients hold, queued or being sent: frame values and the payloads written from them (Bridge:MaxHeldFrameBytes).");

    /// <summary>The gauge of the bytes Kestrel has read from clients and the bridge has not taken yet (<c>Bridge:MaxReadAheadBytes</c> per connection).</summary>
    public void ObserveReadAhead(Func<long> bytes) => _meter.CreateObservableGauge("signalpipeline.bridge.read_ahead", bytes, "By",
        "Bytes clients have sent that Kestrel has read and the bridge has not taken yet, over all connections, as of each connection's latest read (at most about Bridge:MaxReadAheadBytes a connection).");

    /// <summary>The gauges of the streams' buffers: samples pending for the next frame, and room kept between frames.</summary>
    public void ObserveStreamBuffers(Func<long> pending, Func<long> retained)
    {
        _meter.CreateObservableGauge("signalpipeline.bridge.samples.pending", pending, "{sample}",
            "Samples all streams hold for the next frame (Bridge:MaxPendingSamples).");
        _meter.CreateObservableGauge("signalpipeline.bridge.samples.retained", retained, "{sample}",
            "Buffer room streams keep between frames beyond 256 samples each, so a steady stream does not reallocate (at most Bridge:MaxPendingSamples).");
    }

    /// <summary>The per-address limiters' tables (<c>requests</c>, <c>connects</c>, <c>filter_state</c>).</summary>
    public AddressTableInstruments Addresses { get; }

    public void ClientConnected() => _clients.Add(1);

    public void ClientDisconnected() => _clients.Add(-1);

    public void FrameSent(double delayMs)
    {
        _framesSent.Add(1);
        _frameDelay.Record(delayMs);
    }

    public void FrameDropped() => _framesDropped.Add(1);

    public void MessageThrottled() => _throttled.Add(1);

    public void RequestRejected(string reason) => _requestsRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ConnectionRejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void StreamRefused() => _streamsRefused.Add(1);

    public void ClientClosed(string reason) => _closed.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ChunkConsumed(int samples)
    {
        _chunks.Add(1);
        _samples.Add(samples);
    }

    public void SamplesOverflowed(long samples) => _overflowed.Add(samples);

    public void ChunkUndecodable(string code) => _undecodable.Add(1, new KeyValuePair<string, object?>("error", code));

    public void SetConsumerLag(long lag) => Interlocked.Exchange(ref _consumerLag, lag);
}
