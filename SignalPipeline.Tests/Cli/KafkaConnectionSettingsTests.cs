using System.Diagnostics;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

/// <summary>
/// docs/operations.md, "Connecting to Kafka": a verb takes its cluster from <c>--bootstrap</c>, then
/// <c>ConnectionStrings__kafka</c>, then <c>KAFKA_BROKERS</c>; with none of them it exits 2 with the one error line the
/// doc quotes. The settings are the process environment, so the tool runs as a child process with an environment of the
/// test's choosing (setting them in the test process would reach every test running beside it). The address that must
/// lose is a closed port: a verb that took it would fail after its 30 s, exit 1, not succeed.
/// </summary>
[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class KafkaConnectionSettingsTests(MockBrokerFixture broker)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private const string Closed = "127.0.0.1:1";

    [Fact]
    public async Task WithNoClusterSetAVerbExitsTwoWithTheDocumentedLine()
    {
        var result = await RunAsync(kafkaBrokers: null, connectionString: null, "kafka", "lag");

        Assert.True(result.ExitCode == 2, Describe(result));
        Assert.Equal(
            "error: Kafka is not configured: set ConnectionStrings:kafka (the AppHost does this) or KAFKA_BROKERS " +
            "(host:port[,host:port]). Or pass --bootstrap host:port.",
            result.Error.Trim());
    }

    [Fact]
    public async Task ConnectionStringsKafkaWinsOverKafkaBrokers()
    {
        var result = await RunAsync(kafkaBrokers: Closed, connectionString: broker.Bootstrap, "kafka", "lag");

        Assert.True(result.ExitCode == 0, Describe(result));
        Assert.Contains("Total lag ", result.Output, StringComparison.Ordinal); // the shared broker's input has other tests' records
    }

    [Theory]
    [InlineData("kafka", "lag")]
    [InlineData("kafka", "topics", "check", "--partitions", "4", "--timeout", "2")]
    public async Task BootstrapWinsOverConnectionStringsKafkaAndKafkaBrokers(params string[] verb)
    {
        var result = await RunAsync(kafkaBrokers: Closed, connectionString: Closed, [.. verb, "--bootstrap", broker.Bootstrap]);

        Assert.True(result.ExitCode == 0, Describe(result));
    }

    private static Task<ExternalProcess.Result> RunAsync(string? kafkaBrokers, string? connectionString, params string[] arguments)
    {
        var start = ExternalProcess.Command("dotnet", [Path.Combine(AppContext.BaseDirectory, "signal-pipeline.dll"), .. arguments]);
        Set(start, "KAFKA_BROKERS", kafkaBrokers);
        Set(start, "ConnectionStrings__kafka", connectionString);
        return ExternalProcess.RunAsync(start, Timeout);
    }

    private static void Set(ProcessStartInfo start, string name, string? value)
    {
        if (value is null)
        {
            start.Environment.Remove(name);
        }
        else
        {
            start.Environment[name] = value;
        }
    }

    private static string Describe(ExternalProcess.Result result)
        => $"exit {result.ExitCode}\n--- stdout\n{result.Output}\n--- stderr\n{result.Error}";
}
