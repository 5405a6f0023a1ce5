using System.CommandLine;
using SignalPipeline.Cli.Kafka;
using SignalPipeline.Tests.Cli;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary><c>kafka topics ensure|check</c> take the cluster as every Kafka verb does (<c>--bootstrap</c>, <c>-b</c>), and still as <c>--brokers</c>.</summary>
[Trait("Category", TestCategory.Integration)]
[Collection(MockBrokerCollection.Name)]
public sealed class TopicsCommandBootstrapTests(MockBrokerFixture broker)
{
    [Theory]
    [InlineData("check", "--bootstrap")]
    [InlineData("check", "-b")]
    [InlineData("check", "--brokers")]
    [InlineData("ensure", "-b")]
    public async Task TheClusterOptionReachesTheBroker(string verb, string option)
    {
        var root = new RootCommand("test") { KafkaCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();

        // The fixture's broker has every pipeline topic with 4 partitions: nothing to create, nothing wrong. It has no
        // DescribeConfigs (the configs are then not checked); --timeout bounds any wait.
        var exit = await root.Parse(["kafka", "topics", verb, option, broker.Bootstrap, "--partitions", $"{MockBrokerFixture.Partitions}", "--timeout", "2"])
            .InvokeAsync(new InvocationConfiguration { Output = output, Error = error })
            .WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(exit == 0, $"exit {exit}\n{output}\n{error}");
        Assert.Contains($"sample-input\tINPUT_TOPIC\texists, {MockBrokerFixture.Partitions} partitions", output.ToString());
    }
}
