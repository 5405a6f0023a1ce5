using Microsoft.Extensions.Hosting;

namespace SignalPipeline.Cli;

/// <summary>
/// How long the .NET services take to stop, for the grace periods the deploy generators write (Kubernetes'
/// <c>terminationGracePeriodSeconds</c>, compose's <c>stop_grace_period</c>): past them the service is SIGKILLed.
/// </summary>
internal static class ServiceShutdown
{
    /// <summary>
    /// The services' host shutdown timeout: .NET's <see cref="HostOptions.ShutdownTimeout"/> default, which no service
    /// changes. Read from .NET itself so the grace periods follow it. On SIGTERM the host stops taking connections and
    /// lets requests in flight and background services finish for up to this long.
    /// </summary>
    public static readonly int HostTimeoutSeconds = (int)Math.Ceiling(new HostOptions().ShutdownTimeout.TotalSeconds);

    /// <summary>Past the host's timeout: the process's own exit (the telemetry exporters' last flush) before a SIGKILL.</summary>
    public const int MarginSeconds = 10;

    /// <summary>
    /// The Kafka clients (processor, bridge, generator): the processor finishes or gives up its batch in flight (at most
    /// 10 s), then leaves the group so its partitions move at once (docs/processor.md, "State").
    /// </summary>
    public const int KafkaClientGraceSeconds = 60;

    /// <summary>
    /// The Kafka broker: its controlled shutdown moves partition leadership and flushes its logs; killed before that, it
    /// recovers its logs at the next start. Not a .NET service, so not derived from the host timeout.
    /// </summary>
    public const int KafkaBrokerGraceSeconds = 120;
}
