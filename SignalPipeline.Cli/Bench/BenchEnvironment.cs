namespace SignalPipeline.Cli.Bench;

/// <summary>Where the bench runs: the repository root, the build configuration it starts services from, its logs.</summary>
public sealed record BenchEnvironment(string Root, string Configuration, string LogDirectory, bool Quick)
{
    public static BenchEnvironment Find(string configuration, bool quick)
    {
        var directory = new DirectoryInfo(Environment.CurrentDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "SignalPipeline.sln")))
        {
            directory = directory.Parent;
        }

        var root = directory?.FullName
            ?? throw new InvalidOperationException("Run the bench from inside the SignalPipeline repository (SignalPipeline.sln not found above the current folder).");
        return new BenchEnvironment(root, configuration, Path.Combine(root, "artifacts", "bench-logs"), quick);
    }
}
