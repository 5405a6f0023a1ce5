using System.Diagnostics;
using Microsoft.Extensions.Configuration;

namespace Aspire.Hosting;

/// <summary>
/// Asks the container runtime Aspire would use whether it works (<c>docker info</c> / <c>podman info</c>). Without an
/// engine a container resource ends "Runtime unhealthy" and everything waiting on it waits forever, so the AppHost
/// must know before it adds resources.
/// </summary>
public static class ContainerRuntimeProbe
{
    public static bool IsAvailable(IConfiguration configuration, TimeSpan? timeout = null)
    {
        var runtime = configuration["DcpPublisher:ContainerRuntime"] ?? configuration["ASPIRE_CONTAINER_RUNTIME"] ?? "docker";
        try
        {
            using var process = Process.Start(new ProcessStartInfo(runtime, "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return false;
            }

            // Drain the output so a chatty runtime cannot block on a full pipe.
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(10)))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }

            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Not installed.
            return false;
        }
    }
}
