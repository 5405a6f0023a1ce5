namespace SignalPipeline.Tests.Infrastructure;

/// <summary>Where the repository and the build outputs of its projects are, seen from the running tests.</summary>
public static class RepositoryLayout
{
    /// <summary>The folder holding SignalPipeline.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release: the test project references the projects it runs, so they are built alike.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";

    /// <summary>The built assembly of a project of the solution, e.g. <c>OutputAssembly("SignalPipeline.DevBroker")</c>.</summary>
    public static string OutputAssembly(string project)
    {
        var path = Path.Combine(Root, project, "bin", Configuration, "net10.0", project + ".dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"{project} is not built ({path}).", path);
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SignalPipeline.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"SignalPipeline.sln not found above {AppContext.BaseDirectory}.");
    }
}
