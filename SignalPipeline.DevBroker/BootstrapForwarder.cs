using System.Net;
using System.Net.Sockets;

namespace SignalPipeline.DevBroker;

/// <summary>
/// Listens on the fixed bootstrap port and pipes each connection to the first mock broker, whose own port is random.
/// Only the bootstrap connection goes through here: the metadata a client gets back advertises the brokers' real
/// 127.0.0.1 addresses, and the client talks to those directly afterwards.
/// </summary>
public sealed class BootstrapForwarder(ILogger<BootstrapForwarder> logger) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<TcpListener> _listeners = [];
    private readonly List<Task> _loops = [];
    private DnsEndPoint? _target;
    private int _disposed;

    /// <summary>The port actually listened on (the requested one, or the one the OS chose for 0).</summary>
    public int Port { get; private set; }

    public void Start(int port, string targetHostPort)
    {
        var separator = targetHostPort.LastIndexOf(':');
        _target = new DnsEndPoint(targetHostPort[..separator], int.Parse(targetHostPort[(separator + 1)..], System.Globalization.CultureInfo.InvariantCulture));

        var v4 = new TcpListener(IPAddress.Loopback, port);
        v4.Start();
        Port = ((IPEndPoint)v4.LocalEndpoint).Port;
        _listeners.Add(v4);

        // "localhost" may resolve to ::1 first for some clients; serve it too where the machine has IPv6.
        if (Socket.OSSupportsIPv6)
        {
            try
            {
                var v6 = new TcpListener(IPAddress.IPv6Loopback, Port);
                v6.Start();
                _listeners.Add(v6);
            }
            catch (SocketException ex)
            {
                logger.LogDebug(ex, "No IPv6 loopback listener on port {Port}", Port);
            }
        }

        foreach (var listener in _listeners)
        {
            _loops.Add(AcceptLoopAsync(listener, _stopping.Token));
        }
    }

    private async Task AcceptLoopAsync(TcpListener listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(stopping);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                logger.LogWarning(ex, "Accept failed on the bootstrap port");
                continue;
            }

            _ = PipeAsync(client, stopping);
        }
    }

    private async Task PipeAsync(Socket client, CancellationToken stopping)
    {
        using var _ = client;
        using var broker = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            client.NoDelay = true;
            broker.NoDelay = true;
            await broker.ConnectAsync(_target!, stopping);
            using var clientStream = new NetworkStream(client, ownsSocket: false);
            using var brokerStream = new NetworkStream(broker, ownsSocket: false);
            using var done = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            var up = clientStream.CopyToAsync(brokerStream, done.Token);
            var down = brokerStream.CopyToAsync(clientStream, done.Token);
            await Task.WhenAny(up, down);
            // One side closed: close both so the other copy ends too.
            await done.CancelAsync();
            client.Shutdown(SocketShutdown.Both);
            broker.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            logger.LogDebug(ex, "Bootstrap connection closed");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        foreach (var listener in _listeners)
        {
            listener.Stop();
        }

        await Task.WhenAll(_loops);
        _stopping.Dispose();
    }
}
