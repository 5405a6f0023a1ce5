using System.CommandLine;
using SignalPipeline.Cli.Operations;

namespace SignalPipeline.Tests.Cli;

/// <summary>Runs the tool's operations verbs in process, capturing what they print, bounded by a timeout.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
    }

    public static Task<Result> RunAsync(TimeSpan timeout, params string[] args)
    {
        var root = new RootCommand("test");
        OperationsCommands.AddTo(root);
        return RunAsync(root, timeout, args);
    }

    public static Task<Result> RunAsync(params string[] args) => RunAsync(TimeSpan.FromSeconds(90), args);

    /// <summary>Runs <paramref name="command"/> (built by a test, e.g. with other internal limits) as the root's only verb.</summary>
    public static Task<Result> RunAsync(Command command, params string[] args)
        => RunAsync(new RootCommand("test") { command }, TimeSpan.FromSeconds(90), args);

    /// <summary>
    /// Runs <paramref name="command"/> as the root's only verb; cancelling <paramref name="interrupt"/> is Ctrl+C (what
    /// System.CommandLine does on SIGINT: it cancels the verb's token).
    /// </summary>
    public static Task<Result> RunAsync(Command command, CancellationToken interrupt, params string[] args)
        => RunAsync(new RootCommand("test") { command }, TimeSpan.FromSeconds(90), args, interrupt);

    private static async Task<Result> RunAsync(RootCommand root, TimeSpan timeout, string[] args, CancellationToken interrupt = default)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(interrupt);
        cancel.CancelAfter(timeout + TimeSpan.FromSeconds(30));
        var exit = await root.Parse(args)
            .InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancel.Token)
            .WaitAsync(timeout + TimeSpan.FromSeconds(60));
        return new Result(exit, output.ToString(), error.ToString());
    }
}
