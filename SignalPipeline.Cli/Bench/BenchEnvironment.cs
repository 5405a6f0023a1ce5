namespace SignalPipeline.Cli.Bench;

/// <summary>Where the bench runs: the repository root, the build configuration it starts services from, its logs.</summary>
public sealed record BenchEnvironment(string Root, string Configuration, string LogDirectory, bool Quick)
{
    /// <summary>Every service a scenario may start (<see cref="ServiceProcess"/>), by project.</summary>
    public static readonly string[] ServiceProjects = ["SignalPipeline.DevBroker", "FilterKafkaProcessor", "FilterService", "FilterGateway", "WebSocketBridge"];

    /// <summary>A service's build: <c>{root}/{project}/bin/{configuration}/net10.0/{project}.dll</c>.</summary>
    public string ServiceDll(string project) => Path.Combine(Root, project, "bin", Configuration, "net10.0", project + ".dll");

    /// <summary>
    /// Why the services cannot start, or null: checked with the options, since a missing build found at a scenario's first
    /// start was .NET's stack trace, exit 1, after the scenarios before it had run (until 2026-12-06).
    /// </summary>
    public string? MissingBuild()
    {
        var missing = ServiceProjects.Where(p => !File.Exists(ServiceDll(p))).ToArray();
        return missing.Length == 0
            ? null
            : $"the {Configuration} build of {string.Join(", ", missing)} is missing under {Root}: {BuildFirst}";
    }

    /// <summary>What to do about a missing service build.</summary>
    public string BuildFirst => $"build first (`dotnet build -c {Configuration} SignalPipeline.sln`, or scripts/bench.sh).";

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
