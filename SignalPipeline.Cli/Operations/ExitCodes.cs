namespace SignalPipeline.Cli.Operations;

/// <summary>
/// The operations verbs' exit codes (docs/operations.md), so a script can tell "did not work" from "asked wrongly".
/// </summary>
public static class ExitCodes
{
    /// <summary>Done as asked.</summary>
    public const int Success = 0;

    /// <summary>The operation ran and failed: Kafka or HTTP error, undelivered records, timed out before <c>--count</c>, lag over <c>--max-lag</c>.</summary>
    public const int Failure = 1;

    /// <summary>Bad input before anything was sent: an unreadable or malformed file, a bad option value, no bootstrap servers.</summary>
    public const int BadInput = 2;

    /// <summary>
    /// Stopped by Ctrl+C (or SIGTERM) before done: 128 + SIGINT, the code System.CommandLine gives a verb it has to end
    /// itself. A verb is only told that it was cancelled, not by which signal, so SIGTERM also gets this code.
    /// </summary>
    public const int Interrupted = 130;
}

/// <summary>Bad input found by a verb: printed as <c>error: ...</c> with <see cref="ExitCodes.BadInput"/>.</summary>
public sealed class UsageException(string message) : Exception(message);
