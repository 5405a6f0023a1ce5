using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using WebSocketBridge.Streams;

namespace WebSocketBridge.Clients;

/// <summary>
/// One page connected to <c>/ws</c>: its subscription, its bounded frame queue, and two async loops (receive commands,
/// send frames) that hold no thread while idle. Nothing here is ever awaited by the Kafka loop or the frame pump:
/// they only <see cref="Offer"/> frames, which never blocks. The socket reads the client through its
/// <see cref="ClientFrameThrottle"/> (Bridge:ClientMessagesPerSecond), so commands come no faster than that.
/// </summary>
public sealed class ClientConnection
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CloseLinger = TimeSpan.FromSeconds(1);

    private readonly WebSocket _socket;
    private readonly BridgeOptions _options;
    private readonly BridgeMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly FrameQueue<FrameTick> _queue;
    private readonly SemaphoreSlim _sendLock = new(1, 1);

    /// <summary>Released by the unsubscribe that empties the subscription: it wakes the idle watch, which waits on nothing else while the client is subscribed.</summary>
    private readonly SemaphoreSlim _emptied = new(0, 1);

    private volatile Subscription _subscription = Subscription.None;
    private volatile bool _paused;
    private volatile bool _raw;
    private volatile int _pointsPerSecond;
    private long _framesSent;
    private long _unsubscribedSinceMs;
    private long _sendingSinceMs;
    private int _aborted;
    private int _closeCounted;
    private int _cutByBridge;

    public ClientConnection(long id, WebSocket socket, bool raw, BridgeOptions options, BridgeMetrics metrics, TimeProvider time)
    {
        Id = id;
        _socket = socket;
        _options = options;
        _metrics = metrics;
        _time = time;
        _raw = raw;
        _pointsPerSecond = options.PointsPerSecond;
        _queue = new FrameQueue<FrameTick>(options.ClientQueueFrames, dropped =>
        {
            metrics.FrameDropped();
            dropped.Release();
        });
        _unsubscribedSinceMs = time.GetUtcNow().ToUnixTimeMilliseconds();
    }

    public long Id { get; }

    public long Dropped => _queue.Dropped;

    public bool Subscribed => !_subscription.IsEmpty;

    public bool Paused => _paused;

    public ClientSummary Snapshot()
    {
        var subscription = _subscription;
        return new ClientSummary(Id, subscription.All ? [ClientCommand.AllStreams] : [.. subscription.Streams.Order(StringComparer.Ordinal)],
            _paused, _raw, _pointsPerSecond, Interlocked.Read(ref _framesSent), _queue.Dropped, _queue.Count);
    }

    /// <summary>
    /// Queues <paramref name="tick"/> if it has a stream this client wants. Never blocks: a full queue drops its oldest
    /// frame. With <paramref name="onlyIfKeepingUp"/> (the held beats are over budget) a client with frames queued or a
    /// send under way does not take it: the beat counts as dropped.
    /// </summary>
    public void Offer(FrameTick tick, bool onlyIfKeepingUp = false)
    {
        var subscription = _subscription;
        if (_paused || subscription.IsEmpty)
        {
            return;
        }

        foreach (var frame in tick.Frames)
        {
            if (subscription.Includes(frame.StreamId))
            {
                if (onlyIfKeepingUp && (_queue.Count > 0 || Interlocked.Read(ref _sendingSinceMs) != 0))
                {
                    _queue.CountDropped();
                    _metrics.FrameDropped();
                    return;
                }

                tick.Retain();
                if (!_queue.Offer(tick))
                {
                    tick.Release(); // the client has ended
                }

                return;
            }
        }
    }

    /// <summary>
    /// Counts the client as closed, once, under the first reason: a client closed for idling may still send a command
    /// before it answers the close, and breaking a rule then does not make it a second closed client.
    /// </summary>
    private void CountClosed(string reason)
    {
        if (Interlocked.Exchange(ref _closeCounted, 1) == 0)
        {
            _metrics.ClientClosed(reason);
        }
    }

    /// <summary>
    /// Disconnects the client (the socket aborted, as for the send timeout: no close frame can pass a stalled send) when
    /// it has been sending one data message since <paramref name="cutoffMs"/> or earlier; counted once, as held_frames.
    /// </summary>
    public void AbortIfSendingSince(long cutoffMs)
    {
        var since = Interlocked.Read(ref _sendingSinceMs);
        if (since == 0 || since > cutoffMs || Interlocked.Exchange(ref _aborted, 1) == 1)
        {
            return;
        }

        CountClosed("held_frames");
        Cut();
    }

    /// <summary>
    /// Aborts the socket, marked as the bridge's doing first, so the receive loop does not take the abort for the
    /// keep-alive's (which aborts the socket itself, unmarked).
    /// </summary>
    private void Cut()
    {
        Volatile.Write(ref _cutByBridge, 1);
        _socket.Abort();
    }

    /// <summary>Serves the client until it closes, breaks a protocol rule (closed with a reason) or the bridge stops.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            await ServeAsync(stopping);
        }
        finally
        {
            // Whatever ended the client, the beats left in its queue are given back (an Offer after this finds the
            // queue completed and gives its beat back itself).
            _queue.Complete();
            while (_queue.Reader.TryRead(out var tick))
            {
                tick.Release();
            }
        }
    }

    private async Task ServeAsync(CancellationToken stopping)
    {
        using var sending = new CancellationTokenSource();
        using var receiving = new CancellationTokenSource();
        await SendControlAsync(json => ClientMessages.WriteHello(json, Id, _options, _pointsPerSecond, _raw), stopping);
        var sendLoop = SendFramesAsync(sending.Token);
        var idleWatch = CloseWhenIdleAsync(receiving, sending.Token);

        // Cancelling a pending ReceiveAsync or SendAsync aborts the socket without a close frame, so a stopping bridge
        // ends the frame queue and starts the close handshake (1001) instead; the receive is cut only if the client
        // does not answer within CloseTimeout.
        await using var onStop = stopping.Register(
            () => _ = CloseThenCutAsync(WebSocketCloseStatus.EndpointUnavailable, "the bridge is shutting down", receiving));

        ProtocolError? error = null;
        try
        {
            error = await ReceiveCommandsAsync(receiving.Token);
        }
        catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.Faulted)
        {
            // The socket itself refused what the client sent (a text message that is not UTF-8: 1007, a bad frame: 1002)
            // and has sent the close already, then aborted itself. Returning now ends the connection at once, and the
            // client may get a reset instead of the close frame still on its way; so the connection is held until the
            // client goes (it has the close) or for CloseLinger at most, as .NET's own client waits for the server.
            CountClosed("protocol");
            await LingerAsync(stopping);
        }
        catch (OperationCanceledException) when (!receiving.IsCancellationRequested && _socket.State == WebSocketState.Aborted
                                                 && Volatile.Read(ref _cutByBridge) == 0)
        {
            // Nothing here cut the receive or the socket, yet the socket is aborted: it aborted itself because the client
            // answered no keep-alive ping within Bridge:KeepAliveTimeoutSeconds (Kestrel then ends the read with its
            // ConnectionAbortedException, an OperationCanceledException). A client gone with a reset or an end of stream
            // ends the read with a WebSocketException instead. A socket the bridge cut (a send timing out, held frames, a
            // close that could not be sent) is marked before it is aborted and counted under its own reason, if any.
            CountClosed("keepalive_timeout");
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The client went away, was closed for idling or a stalled send, or the bridge is stopping (handled below).
        }

        _queue.Complete();
        if (error is not null)
        {
            CountClosed(error.Status == WebSocketCloseStatus.PolicyViolation && error.Reason.StartsWith(SubscriptionLimitReason, StringComparison.Ordinal)
                ? "subscription_limit" : "protocol");
            await CloseAsync(error.Status, error.Reason);
        }
        else if (stopping.IsCancellationRequested)
        {
            await CloseAsync(WebSocketCloseStatus.EndpointUnavailable, "the bridge is shutting down");
        }
        else if (_socket.State == WebSocketState.CloseReceived)
        {
            await CloseAsync(WebSocketCloseStatus.NormalClosure, "bye");
        }

        await sending.CancelAsync();
        try
        {
            await Task.WhenAll(sendLoop, idleWatch);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
    }

    private static async Task LingerAsync(CancellationToken clientGone)
    {
        try
        {
            await Task.Delay(CloseLinger, clientGone);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Ends the frame queue, sends the close frame and cuts the receive if the client has not answered the close within
    /// <see cref="CloseTimeout"/> (the server-initiated closes: idle and stop).
    /// </summary>
    private async Task CloseThenCutAsync(WebSocketCloseStatus status, string reason, CancellationTokenSource receiving)
    {
        _queue.Complete();
        await CloseAsync(status, reason);
        try
        {
            receiving.CancelAfter(CloseTimeout);
        }
        catch (ObjectDisposedException)
        {
            // The client answered the close and RunAsync has already returned.
        }
    }

    /// <summary>
    /// Closes a client that holds no subscription for Bridge:IdleTimeoutSeconds (1008, the reason names the setting), so
    /// idle sockets cannot hold the connection slots; a client that does not answer the close is cut 5 s later. On time,
    /// and without a timer per client that ticks: a subscribed client waits for the unsubscribe that empties its
    /// subscription (<see cref="_emptied"/>), one without a subscription for its deadline (one one-shot delay, rechecked
    /// when it ends, since the client may have subscribed and unsubscribed meanwhile).
    /// </summary>
    private async Task CloseWhenIdleAsync(CancellationTokenSource receiving, CancellationToken cancellationToken)
    {
        var idleMs = _options.IdleTimeoutSeconds * 1000L;
        try
        {
            while (true)
            {
                if (!_subscription.IsEmpty)
                {
                    await _emptied.WaitAsync(cancellationToken);
                    continue;
                }

                var leftMs = Interlocked.Read(ref _unsubscribedSinceMs) + idleMs - _time.GetUtcNow().ToUnixTimeMilliseconds();
                if (leftMs > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(leftMs), _time, cancellationToken);
                    continue;
                }

                CountClosed("idle");
                await CloseThenCutAsync(WebSocketCloseStatus.PolicyViolation,
                    $"idle: no subscription for {_options.IdleTimeoutSeconds} s (Bridge:IdleTimeoutSeconds)", receiving);
                return;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<ProtocolError?> ReceiveCommandsAsync(CancellationToken cancellationToken)
    {
        var max = _options.MaxClientMessageBytes;
        var buffer = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            while (true)
            {
                var count = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (count == max)
                    {
                        return new ProtocolError(WebSocketCloseStatus.MessageTooBig, $"message over {max} bytes");
                    }

                    result = await _socket.ReceiveAsync(buffer.AsMemory(count, max - count), cancellationToken);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        return null;
                    }

                    count += result.Count;
                }
                while (!result.EndOfMessage);

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    return new ProtocolError(WebSocketCloseStatus.InvalidMessageType, "binary messages are not accepted: send JSON text");
                }

                if (!ClientCommand.TryParse(buffer.AsSpan(0, count), out var command, out var error))
                {
                    return error;
                }

                if (Apply(command!) is { } refused)
                {
                    return refused;
                }

                await SendControlAsync(json => ClientMessages.WriteStatus(json, Snapshot()), cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private const string SubscriptionLimitReason = "subscription limit";

    /// <summary>Applies a command; a subscribe past Bridge:MaxSubscriptionsPerClient is refused (the client is closed with 1008).</summary>
    private ProtocolError? Apply(ClientCommand command)
    {
        switch (command)
        {
            case SubscribeCommand subscribe:
                var subscription = _subscription.Add(subscribe.Streams);
                if (!subscription.All && subscription.Streams.Count > _options.MaxSubscriptionsPerClient)
                {
                    return new ProtocolError(WebSocketCloseStatus.PolicyViolation, ProtocolError.Fit(
                        $"{SubscriptionLimitReason}: at most {_options.MaxSubscriptionsPerClient} streams per client (Bridge:MaxSubscriptionsPerClient)"));
                }

                _subscription = subscription;
                if (subscribe.Raw is { } raw)
                {
                    _raw = raw;
                }

                if (subscribe.PointsPerSecond is { } points)
                {
                    _pointsPerSecond = Math.Min(points, _options.PointsPerSecond);
                }

                break;
            case UnsubscribeCommand unsubscribe:
                var remaining = _subscription.Remove(unsubscribe.Streams);
                // Idle time runs from the unsubscribe that emptied the subscription: one that finds it empty already must not
                // restart it, or a client repeating unsubscribe ["*"] would never be closed for idling. Written before the
                // subscription, so the idle watch never sees it emptied with the old time.
                var emptied = !_subscription.IsEmpty && remaining.IsEmpty;
                if (emptied)
                {
                    Interlocked.Exchange(ref _unsubscribedSinceMs, _time.GetUtcNow().ToUnixTimeMilliseconds());
                }

                _subscription = remaining;
                // Only this loop releases, so the count check cannot race another release past the semaphore's one slot.
                if (emptied && _emptied.CurrentCount == 0)
                {
                    _emptied.Release();
                }

                break;
            case PauseCommand:
                _paused = true;
                break;
            case ResumeCommand:
                _paused = false;
                break;
        }

        return null;
    }

    private async Task SendFramesAsync(CancellationToken cancellationToken)
    {
        var selected = new List<byte[]>();
        await foreach (var tick in _queue.Reader.ReadAllAsync(cancellationToken))
        {
            Interlocked.Exchange(ref _sendingSinceMs, _time.GetUtcNow().ToUnixTimeMilliseconds());
            try
            {
                if (!_paused)
                {
                    await SendFrameAsync(tick, selected, cancellationToken);
                }
            }
            finally
            {
                selected.Clear();
                Interlocked.Exchange(ref _sendingSinceMs, 0);
                tick.Release();
            }
        }
    }

    private async Task SendFrameAsync(FrameTick tick, List<byte[]> selected, CancellationToken cancellationToken)
    {
        var newest = Select(tick, selected);
        if (selected.Count == 0)
        {
            return;
        }

        var fragment = ArrayPool<byte>.Shared.Rent(ClientMessages.FragmentBytes);
        try
        {
            await SendAsync(
                token => ClientMessages.SendDataAsync(fragment.AsMemory(0, ClientMessages.FragmentBytes), tick.CreatedMs, _queue.Dropped, selected,
                    (bytes, last, t) => _socket.SendAsync(bytes, WebSocketMessageType.Text, last, t), token),
                cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(fragment);
        }

        Interlocked.Increment(ref _framesSent);
        _metrics.FrameSent(_time.GetUtcNow().ToUnixTimeMilliseconds() - newest);
    }

    /// <summary>
    /// The payloads of the tick's streams this client wants, at the resolution its point budget allows; returns when the
    /// newest of their chunks arrived (the frame's delay is this client's streams', not the other streams' of the beat).
    /// </summary>
    private long Select(FrameTick tick, List<byte[]> selected)
    {
        selected.Clear();
        var subscription = _subscription;
        var wanted = 0;
        foreach (var frame in tick.Frames)
        {
            if (subscription.Includes(frame.StreamId))
            {
                wanted++;
            }
        }

        if (wanted == 0)
        {
            return 0;
        }

        // The budget is per second: a frame gets points in proportion to the time its samples span, so a late beat
        // (more samples) is not drawn coarser than a punctual one.
        var perStream = (double)_pointsPerSecond / wanted;
        var newest = 0L;
        foreach (var frame in tick.Frames)
        {
            if (subscription.Includes(frame.StreamId))
            {
                var seconds = frame.Rate > 0 ? frame.Raw.Length / frame.Rate : 1.0 / _options.FrameRate;
                var resolution = _raw ? StreamFrame.Undecimated : StreamFrame.Resolution(perStream * seconds);
                selected.Add(tick.Payload(frame, resolution));
                newest = Math.Max(newest, frame.ReceivedMs);
            }
        }

        return newest;
    }

    private async Task SendControlAsync(Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        await SendAsync(token => _socket.SendAsync(buffer.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, token), cancellationToken);
    }

    /// <summary>
    /// One text message (<paramref name="send"/> writes its frames), at most Bridge:SendTimeoutSeconds: a client that
    /// stops reading fills its TCP window and stalls the send; it is then disconnected (the socket aborted: a close frame
    /// cannot reach a client that reads nothing).
    /// </summary>
    private async Task SendAsync(Func<CancellationToken, ValueTask> send, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken);
        try
        {
            // The timer on its own source: when it fires, the socket is aborted and the send may end in another
            // exception than the cancellation (Kestrel's ConnectionAbortedException, a WebSocketException), and the
            // receive loop may cancel cancellationToken meanwhile; the timer alone says whether the send timed out.
            // Cancelling the send aborts the socket, so the timer marks the connection as cut by the bridge before it
            // cancels the send (one callback, in that order): the receive loop must not take the abort for the keep-alive's.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var timer = new CancellationTokenSource(TimeSpan.FromSeconds(_options.SendTimeoutSeconds));
            using var cut = timer.Token.Register(() =>
            {
                Volatile.Write(ref _cutByBridge, 1);
                timeout.Cancel();
            });
            try
            {
                await send(timeout.Token);
            }
            catch (Exception) when (timer.IsCancellationRequested)
            {
                CountClosed("send_timeout");
                Cut();
                throw;
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Sends a close frame with <paramref name="reason"/>, unless a send to a stalled client holds the socket:
    /// then the connection is aborted.</summary>
    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        if (!await _sendLock.WaitAsync(CloseTimeout))
        {
            Cut();
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(CloseTimeout);
            await _socket.CloseOutputAsync(status, ProtocolError.Fit(reason), timeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            Cut();
        }
        finally
        {
            _sendLock.Release();
        }
    }
}

/// <summary>A client in <c>GET /clients</c>.</summary>
public sealed record ClientSummary(long Id, IReadOnlyList<string> Streams, bool Paused, bool Raw, int PointsPerSecond, long FramesSent, long Dropped, int Queued);
