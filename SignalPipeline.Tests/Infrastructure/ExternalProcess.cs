using System.Diagnostics;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>Runs a command-line tool to completion, bounded by a timeout (killed when it runs over).</summary>
public static class ExternalProcess
{
    public sealed record Result(int ExitCode, string Output, string Error);

    public static async Task<Result> RunAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} {string.Join(' ', start.ArgumentList)} ran over {timeout.TotalSeconds:0} s.");
        }

        return new Result(process.ExitCode, await output, await error);
    }

    public static ProcessStartInfo Command(string fileName, params IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(fileName);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }
}
