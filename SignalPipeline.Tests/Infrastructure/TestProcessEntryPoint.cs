using SignalPipeline.Tests.Filters;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// The test assembly run as a program (<c>dotnet SignalPipeline.Tests.dll filter-digests</c>), so a test can compute
/// the same thing in a child process with other runtime settings (the JIT's DOTNET_EnableAVX2 and the like are read
/// once per process). The test runner never calls it. Replaces the empty entry point the test SDK would generate.
/// </summary>
public static class TestProcessEntryPoint
{
    public static int Main(string[] args)
    {
        if (args is [KernelPathDigests.Command])
        {
            Console.Error.WriteLine(KernelPathDigests.Acceleration());
            foreach (var line in KernelPathDigests.Compute())
            {
                Console.WriteLine(line);
            }

            return 0;
        }

        Console.Error.WriteLine($"usage: dotnet SignalPipeline.Tests.dll {KernelPathDigests.Command}");
        return 2;
    }
}
