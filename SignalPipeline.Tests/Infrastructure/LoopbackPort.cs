using System.Net;
using System.Net.Sockets;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>Loopback ports for the processes and listeners a test starts itself.</summary>
public static class LoopbackPort
{
    /// <summary>A loopback port free a moment ago (nothing listens on it once this returns).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
