using System.Text.Json;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>
/// The runtime settings the processor ships with in its runtimeconfig.json (FilterKafkaProcessor.csproj; docs/processor.md,
/// "Settings"), wherever it is started from its build or publish output: workstation GC, RetainVM and a 2 MiB
/// large-object threshold.
/// </summary>
public sealed class ProcessorRuntimeConfigTests
{
    [Fact]
    public void The_processor_runs_with_workstation_GC_RetainVM_and_a_2_MiB_large_object_threshold()
    {
        var properties = ConfigProperties("FilterKafkaProcessor");

        Assert.False(properties.GetProperty("System.GC.Server").GetBoolean());
        Assert.True(properties.GetProperty("System.GC.RetainVM").GetBoolean());
        Assert.Equal(2097152, properties.GetProperty("System.GC.LOHThreshold").GetInt32());
    }

    /// <summary>The configProperties of a program's runtimeconfig.json, as the build copied it beside the tests.</summary>
    private static JsonElement ConfigProperties(string program)
    {
        var path = Path.Combine(AppContext.BaseDirectory, program + ".runtimeconfig.json");
        Assert.True(File.Exists(path), $"{path} is missing: the test project references {program}'s project, whose build writes it");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }
}
