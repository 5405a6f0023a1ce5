using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// A WebSocket client on a bare TCP connection that writes frames as given: control frames (ping), fragments of any
/// size, frames a <see cref="System.Net.WebSockets.ClientWebSocket"/> never sends. Every await bounded.
/// </summary>
internal sealed class RawWebSocketClient : IDisposable
{
    public const byte Continuation = 0x0, Text = 0x1, Close = 0x8, Ping = 0x9, Pong = 0xA;

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RawWebSocketClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    /// <summary>Connects to <c>/ws</c> of the bridge at <paramref name="http"/>; the hello message is the first frame to read.</summary>
    public static async Task<RawWebSocketClient> ConnectAsync(Uri http)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(http.Host, http.Port).WaitAsync(BridgeTestClient.Timeout);
        var client = new RawWebSocketClient(tcp);
        var upgrade = $"GET /ws HTTP/1.1\r\nHost: {http.Authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                      + $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {Convert.ToBase64String(new byte[16])}\r\n\r\n";
        await client.WriteAsync(Encoding.ASCII.GetBytes(upgrade));
        var head = await client.ReadHeadAsync();
        Assert.StartsWith("HTTP/1.1 101", head);
        return client;
    }

    /// <summary>One client frame (masked, as RFC 6455 requires of clients) of <paramref name="opcode"/>.</summary>
    public static byte[] Frame(byte opcode, bool fin, ReadOnlySpan<byte> payload)
    {
        var lengthBytes = payload.Length < 126 ? 0 : payload.Length <= ushort.MaxValue ? 2 : 8;
        var frame = new byte[2 + lengthBytes + 4 + payload.Length];
        frame[0] = (byte)((fin ? 0x80 : 0) | opcode);
        switch (lengthBytes)
        {
            case 0:
                frame[1] = (byte)(0x80 | payload.Length);
                break;
            case 2:
                frame[1] = 0x80 | 126;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
                break;
            default:
                frame[1] = 0x80 | 127;
                BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
                break;
        }

        var mask = frame.AsSpan(2 + lengthBytes, 4);
        Random.Shared.NextBytes(mask);
        var body = frame.AsSpan(6 + lengthBytes);
        for (var i = 0; i < payload.Length; i++)
        {
            body[i] = (byte)(payload[i] ^ mask[i % 4]);
        }

        return frame;
    }

    public Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
        => _stream.WriteAsync(bytes, cancellationToken).AsTask().WaitAsync(BridgeTestClient.Timeout, cancellationToken);

    /// <summary>The next server frame (opcode, FIN, payload), or null when the server ended the connection.</summary>
    public async Task<(byte Opcode, bool Fin, byte[] Payload)?> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        if (!await FillAsync(2, cancellationToken))
        {
            return null;
        }

        var opcode = (byte)(_buffer[_start] & 0x0F);
        var fin = (_buffer[_start] & 0x80) != 0;
        var length = (long)(_buffer[_start + 1] & 0x7F);
        var header = length switch { 126 => 4, 127 => 10, _ => 2 };
        if (!await FillAsync(header, cancellationToken))
        {
            return null;
        }

        length = length switch
        {
            126 => BinaryPrimitives.ReadUInt16BigEndian(_buffer.AsSpan(_start + 2)),
            127 => (long)BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(_start + 2)),
            _ => length,
        };
        _start += header;
        var payload = new byte[length];
        for (var copied = 0; copied < length;)
        {
            if (!await FillAsync(1, cancellationToken))
            {
                return null;
            }

            var n = (int)Math.Min(length - copied, _end - _start);
            _buffer.AsSpan(_start, n).CopyTo(payload.AsSpan(copied));
            _start += n;
            copied += n;
        }

        return (opcode, fin, payload);
    }

    /// <summary>The next server frame, which must be a close: its status code and reason.</summary>
    public async Task<(ushort Status, string Reason)> ReadCloseAsync()
    {
        var close = await ReadFrameAsync();
        Assert.Equal(Close, close?.Opcode);
        return (BinaryPrimitives.ReadUInt16BigEndian(close!.Value.Payload), Encoding.UTF8.GetString(close.Value.Payload.AsSpan(2)));
    }

    /// <summary>Whether the next read finds the connection ended (an end of stream or a reset) rather than a frame.</summary>
    public async Task<bool> EndsBeforeAnotherFrameAsync()
    {
        try
        {
            return await ReadFrameAsync() is null;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public void Dispose() => _tcp.Dispose();

    /// <summary>Ends the connection with a reset (no close frame, no FIN), as a client whose process is killed.</summary>
    public void Abort()
    {
        _tcp.LingerState = new LingerOption(true, 0);
        _tcp.Dispose();
    }

    /// <summary>Until at least <paramref name="count"/> unread bytes are buffered; false at the end of the stream.</summary>
    private async Task<bool> FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_end - _start >= count)
        {
            return true;
        }

        _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
        _end -= _start;
        _start = 0;
        while (_end < count)
        {
            var n = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).AsTask().WaitAsync(BridgeTestClient.Timeout, cancellationToken);
            if (n == 0)
            {
                return false;
            }

            _end += n;
        }

        return true;
    }

    private async Task<string> ReadHeadAsync()
    {
        var head = new StringBuilder();
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            Assert.True(await FillAsync(1, CancellationToken.None), $"the connection ended in the upgrade answer: {head}");
            head.Append((char)_buffer[_start++]);
        }

        return head.ToString();
    }
}
