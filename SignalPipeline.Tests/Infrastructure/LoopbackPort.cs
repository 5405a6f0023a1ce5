namespace SignalPipeline.Tests.Infrastructure;

/// <summary>Loopback ports for the processes and listeners a test starts itself.</summary>
public static class LoopbackPort
{
    /// <summary>
    /// A loopback port free a moment ago (nothing listens on it once this returns), below the kernel's ephemeral range,
    /// so no outbound connection takes it before the test's process binds it (the bench's <c>ServiceProcess.FreePort</c>).
    /// </summary>
    public static int Free() => SignalPipeline.Cli.Bench.ServiceProcess.FreePort();
}
