using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>A <see cref="ClientWebSocket"/> speaking the bridge's protocol, every await bounded.</summary>
internal sealed class BridgeTestClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly ClientWebSocket _socket = new();
    private readonly byte[] _buffer = new byte[64 * 1024];
    private HttpMessageInvoker? _http2;

    private BridgeTestClient()
    {
    }

    public ClientWebSocket Socket => _socket;

    public long ClientId { get; private set; }

    /// <summary>The hello message's <c>raw</c>.</summary>
    public bool HelloRaw { get; private set; }

    /// <summary>
    /// Connects to <c>/ws</c> of the bridge at <paramref name="http"/> and reads the hello message; with
    /// <paramref name="http2"/>, over HTTP/2 without TLS (the bridge must listen for HTTP/2 only); <paramref name="query"/>
    /// (with its '?') replaces the one <paramref name="raw"/> gives.
    /// </summary>
    public static async Task<BridgeTestClient> ConnectAsync(Uri http, bool raw = false, string? origin = null, bool http2 = false, string? query = null)
    {
        var client = new BridgeTestClient();
        client._socket.Options.CollectHttpResponseDetails = true;
        if (origin is not null)
        {
            client._socket.Options.SetRequestHeader("Origin", origin);
        }

        var uri = new UriBuilder(http) { Scheme = http.Scheme == "https" ? "wss" : "ws", Path = "/ws", Query = query ?? (raw ? "raw=1" : "") }.Uri;
        if (http2)
        {
            client._socket.Options.HttpVersion = System.Net.HttpVersion.Version20;
            client._socket.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            client._http2 = new HttpMessageInvoker(new SocketsHttpHandler());
        }

        await client._socket.ConnectAsync(uri, client._http2, CancellationToken.None).WaitAsync(Timeout);
        using var hello = await client.ReceiveAsync();
        Assert.Equal("hello", hello!.RootElement.GetProperty("type").GetString());
        client.ClientId = hello.RootElement.GetProperty("client_id").GetInt64();
        client.HelloRaw = hello.RootElement.GetProperty("raw").GetBoolean();
        return client;
    }

    public Task SendAsync(string json)
        => _socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, CancellationToken.None).WaitAsync(Timeout);

    /// <summary>Sends a subscribe and reads messages up to its status reply.</summary>
    public async Task SubscribeAsync(params string[] streams)
    {
        await SendAsync(JsonSerializer.Serialize(new { type = "subscribe", streams }));
        while (true)
        {
            using var message = await ReceiveAsync();
            Assert.NotNull(message);
            if (message.RootElement.GetProperty("type").GetString() == "status")
            {
                return;
            }
        }
    }

    /// <summary>The next message, or null when the server closed the connection (see <see cref="ClientWebSocket.CloseStatus"/>).</summary>
    public async Task<JsonDocument?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        using var message = new MemoryStream();
        while (true)
        {
            var result = await _socket.ReceiveAsync(_buffer, cancellationToken).WaitAsync(Timeout, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            message.Write(_buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return JsonDocument.Parse(message.ToArray());
            }
        }
    }

    /// <summary>
    /// Reads until the server's close frame arrives; returns it. The close is not answered (<c>ClientWebSocket</c> does
    /// not answer one by itself: it stays in <c>CloseReceived</c>); <see cref="AnswerCloseAsync"/> answers it as a browser does.
    /// </summary>
    public async Task<(WebSocketCloseStatus? Status, string? Reason)> ReceiveCloseAsync()
    {
        while (await ReceiveAsync() is { } message)
        {
            message.Dispose();
        }

        return (_socket.CloseStatus, _socket.CloseStatusDescription);
    }

    /// <summary>Answers the server's close frame with the same status, as a browser does on its own.</summary>
    public Task AnswerCloseAsync()
        => _socket.CloseOutputAsync(_socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }
        }

        _socket.Abort();
        _socket.Dispose();
        _http2?.Dispose();
    }
}
