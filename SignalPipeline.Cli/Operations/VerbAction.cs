using System.CommandLine;
using Confluent.Kafka;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// Runs a verb's body with the invocation's writers and turns the errors a user can cause into the documented exit
/// codes: bad input 2 (<see cref="UsageException"/>, unreadable file, a Kafka setting librdkafka refuses), Kafka and
/// HTTP failures 1 (a Kafka error names the cluster; an HTTP server that does not answer in time too), stdout closed by its reader 1 (<see cref="StandardOutput"/>).
/// A stack trace is a bug.
/// </summary>
public static class VerbAction
{
    /// <param name="command">The verb.</param>
    /// <param name="body">What it does; it observes the token (Ctrl+C, SIGTERM) and may report the interruption itself.</param>
    /// <param name="interruptedExitCode">
    /// The exit code when <paramref name="body"/> ends with <see cref="OperationCanceledException"/> after the token was
    /// cancelled (stderr: <c>interrupted</c>).
    /// </param>
    public static void Set(Command command, Func<ParseResult, VerbOutput, CancellationToken, Task<int>> body, int interruptedExitCode = ExitCodes.Failure)
        => command.SetAction(async (parse, cancellationToken) =>
        {
            var output = new VerbOutput(StandardOutput.For(parse.InvocationConfiguration.Output), parse.InvocationConfiguration.Error);
            try
            {
                // System.CommandLine ends a verb 2 s after Ctrl+C or SIGTERM (130, 143) only once the action has handed it
                // a Task: a body that blocks in a Kafka call before its first await (topics list's metadata, ensure's)
                // held the process for that call's whole timeout, 30 s, then exit 1. The body runs on the thread pool.
                await Task.Yield();
                return await body(parse, output, cancellationToken);
            }
            catch (UsageException ex)
            {
                output.Error.WriteLine($"error: {ex.Message}");
                return ExitCodes.BadInput;
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
            {
                output.Error.WriteLine($"error: {ex.Message}");
                return ExitCodes.BadInput;
            }
            catch (Exception ex) when (KafkaSettingRefusal.Describe(ex, KafkaConnection.EnvironmentConfiguration()) is { } refused)
            {
                output.Error.WriteLine($"error: {refused}");
                return ExitCodes.BadInput;
            }
            catch (KafkaException ex)
            {
                output.Error.WriteLine($"error: {KafkaConnection.DescribeError(ex.Error, KafkaConnection.BootstrapServers(parse), KafkaConnection.ClusterOption(parse))}");
                return ExitCodes.Failure;
            }
            catch (TimeoutException ex)
            {
                output.Error.WriteLine($"error: {ex.Message}");
                return ExitCodes.Failure;
            }
            catch (HttpRequestException ex)
            {
                output.Error.WriteLine($"error: HTTP: {ex.Message}");
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && ex.InnerException is TimeoutException)
            {
                // HttpClient.Timeout: a server that accepted the request and never answered (filter, streams list/show).
                // It surfaces as a cancellation nobody asked for, which would otherwise end as a stack trace.
                output.Error.WriteLine($"error: HTTP: {ex.Message}");
                return ExitCodes.Failure;
            }
            catch (IOException ex) when (StandardOutput.IsClosedPipe(ex))
            {
                output.Error.WriteLine($"error: stdout was closed ({ex.Message}): the program reading the output has exited; stopped.");
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                output.Error.WriteLine("interrupted");
                return interruptedExitCode;
            }
        });
}

/// <summary>Where a verb writes: results to <see cref="Out"/>, progress and errors to <see cref="Error"/>.</summary>
public sealed record VerbOutput(TextWriter Out, TextWriter Error);
