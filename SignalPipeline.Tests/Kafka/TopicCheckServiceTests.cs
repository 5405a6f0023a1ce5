using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary>The check the bridge, the generator and the processor run at start.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class TopicCheckServiceTests
{
    [Fact]
    public async Task AMissingTopicStopsTheStartWithTheTopicAndTheFix()
    {
        // A librdkafka mock cluster of the admin client's own, with no topics.
        var factory = KafkaTestClients.CreateFactory("127.0.0.1:1", new Dictionary<string, string?> { ["Kafka:Client:test.mock.num.brokers"] = "1" });
        var service = new TopicCheckService(factory, [new(PipelineTopics.Output, "renamed-output")], NullLogger<TopicCheckService>.Instance);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => service.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.Contains("topic 'renamed-output' (OUTPUT_TOPIC) does not exist", error.Message);
        Assert.Contains("signal-pipeline kafka topics ensure", error.Message);
    }

    [Fact]
    public async Task AClusterThatDoesNotAnswerIsLeftToTheReadinessCheck()
    {
        var factory = KafkaTestClients.CreateFactory("127.0.0.1:1");
        var service = new TopicCheckService(factory, [TopicRequirement.Default(PipelineTopics.Input)], NullLogger<TopicCheckService>.Instance);

        // Returns (after the check's own timeout) instead of failing the start.
        await service.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
    }
}
