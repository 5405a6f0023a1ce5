using System.Globalization;
using System.Net;
using System.Net.Sockets;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Cli;

/// <summary>
/// What the Kafka verbs print when the cluster or a setting is wrong: one <c>error:</c> line naming the cluster or the
/// setting (docs/operations.md, "Exit codes"), never a stack trace.
/// </summary>
[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class KafkaErrorTests(MockBrokerFixture broker) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("kafka-error-").FullName;

    // A setting is read from the environment, so each case runs the tool as its own process with the setting in its
    // environment alone (setting it in this process would reach every other test's clients).
    [Theory]
    [InlineData("Kafka__Consumer__fetch.wait.maxx.ms", "10", "No such configuration property", "kafka", "tail", "--from-beginning", "-e")]
    [InlineData("Kafka__Producer__linger.mss", "1", "No such configuration property", "produce", "--stream", "s1", "--file", "{file}")]
    [InlineData("Kafka__Client__security.protocol", "bogus", "Invalid value \"bogus\"", "kafka", "lag")]
    [InlineData("Kafka__Producer__acks", "abc", "\"request.required.acks\"", "produce", "--stream", "s1", "--file", "{file}")] // an alias, refused by its librdkafka name
    public async Task ALibrdkafkaSettingItRefusesIsNamedWithExitTwo(string setting, string value, string reason, params string[] verb)
    {
        var file = Path.Combine(_folder, "samples.txt");
        await File.WriteAllTextAsync(file, "1\n2\n");
        var start = ExternalProcess.Command("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "signal-pipeline.dll"), .. verb.Select(a => a.Replace("{file}", file, StringComparison.Ordinal)), "--bootstrap", broker.Bootstrap]);
        start.Environment[setting] = value;

        var result = await ExternalProcess.RunAsync(start, TimeSpan.FromMinutes(2));

        var report = $"exit {result.ExitCode}\n{result.Output}\n{result.Error}";
        Assert.True(result.ExitCode == 2, report);
        Assert.Contains($"error: {setting}: ", result.Error);
        Assert.Contains(reason, result.Error);
        Assert.DoesNotContain("Unhandled exception", result.Error);
    }

    [Theory]
    [InlineData("error: Kafka at {0} did not answer: ", "kafka", "tail", "-e")]
    [InlineData("error: the entry was not delivered to stream-config on {0} within 30 s", "streams", "configure", "s1", "--reset")]
    public async Task AClusterThatDoesNotAnswerIsNamedInTheError(string message, params string[] verb)
    {
        // A port nothing listens on: taken, then released.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var bootstrap = $"127.0.0.1:{port}";

        string[] args = [.. verb, "--bootstrap", bootstrap];
        var result = verb[0] == "streams" ? await StreamsCommandTests.Run(args) : await CliRunner.RunAsync(args);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(string.Format(CultureInfo.InvariantCulture, message, bootstrap), result.Error);
        Assert.Contains("Check --bootstrap or KAFKA_BROKERS", result.Error);
        Assert.Matches(@"kafka warning: \[signal-pipeline#(producer|consumer)-\d+\] ", result.Error); // docs/operations.md quotes the name
    }

    [Fact]
    public async Task ANegativeMaxLagIsBadInputBeforeKafkaIsAsked()
    {
        var result = await CliRunner.RunAsync("kafka", "lag", "--bootstrap", broker.Bootstrap, "--max-lag", "-1");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("error: --max-lag must be 0 or more, was -1.", result.Error);
    }

    [Fact]
    public async Task TheBootstrapOptionsHelpNamesBothSettingsItStandsFor()
    {
        // ConnectionStrings__kafka wins over KAFKA_BROKERS (docs/operations.md, "Connecting to Kafka"); --help said only the latter.
        var result = await CliRunner.RunAsync("kafka", "lag", "--help");

        Assert.Contains("(default: ConnectionStrings__kafka, else KAFKA_BROKERS)", result.Output);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
