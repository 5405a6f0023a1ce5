using System.Diagnostics;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// Runs a command-line tool to completion, bounded by a timeout (killed when it runs over); <see cref="Service"/> is how a
/// test starts a built service of the solution as its own process.
/// </summary>
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

    /// <summary>
    /// The built <paramref name="project"/> (<see cref="RepositoryLayout.OutputAssembly"/>) run with <c>dotnet</c> as it
    /// runs deployed: <c>DOTNET_ENVIRONMENT=Production</c>, listening on a free port of 127.0.0.1
    /// (<c>ASPNETCORE_URLS=http://127.0.0.1:0</c>; the address is in its "Now listening on:" line). The caller adds the
    /// broker and its own settings to <see cref="ProcessStartInfo.Environment"/>.
    /// </summary>
    public static ProcessStartInfo Service(string project)
    {
        var start = Command("dotnet", RepositoryLayout.OutputAssembly(project));
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        return start;
    }
}
