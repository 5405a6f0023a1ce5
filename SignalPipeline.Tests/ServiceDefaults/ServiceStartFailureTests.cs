using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.ServiceDefaults;

/// <summary>
/// The built services as processes: a setting they refuse at start stops them with exit code 1 and a message naming
/// it, not .NET's unhandled-exception abort (exit 134). No broker is needed: the settings are checked before one is asked.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class ServiceStartFailureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("WebSocketBridge", "Bridge__MaxConnections", "-1", "Bridge:MaxConnections")]
    [InlineData("FilterGateway", "FilterGateway__MaxConnections", "0", "FilterGateway:MaxConnections")]
    [InlineData("WebSocketBridge", "Kafka__Consumer__fetch.wait.maxx.ms", "10", "Kafka__Consumer__fetch.wait.maxx.ms: No such configuration property")]
    [InlineData("SignalGenerator", "Kafka__Producer__lingerr.ms", "10", "Kafka__Producer__lingerr.ms: No such configuration property")]
    [InlineData("FilterKafkaProcessor", "Kafka__Client__security.protocol", "bogus", "Kafka__Client__security.protocol: ")]
    public async Task A_setting_refused_at_start_exits_1_naming_it(string project, string setting, string value, string expected)
    {
        var start = ExternalProcess.Command("dotnet", RepositoryLayout.OutputAssembly(project));
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["KAFKA_BROKERS"] = "127.0.0.1:1"; // never asked: the settings stop the service first
        start.Environment[setting] = value;

        var run = await ExternalProcess.RunAsync(start, Timeout);

        var output = run.Output + run.Error;
        Assert.True(run.ExitCode == 1, $"exit code {run.ExitCode}; output:{Environment.NewLine}{output}");
        Assert.Contains(expected, output);
        Assert.Contains("crit: the service stopped: ", run.Error);
        Assert.DoesNotContain("Unhandled exception", output);
    }
}
