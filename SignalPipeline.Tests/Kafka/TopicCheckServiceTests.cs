using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using SignalPipeline.DevBroker;
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
    public async Task ATopicTheClusterReportsAnErrorForIsNotCalledMissing()
    {
        // A real cluster right after the topics were created: the topic is there, its leader not yet.
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic("sample-output", 2);
        cluster.SetTopicError("sample-output", ErrorCode.LeaderNotAvailable);
        var log = new FakeLogger<TopicCheckService>();
        var service = new TopicCheckService(KafkaTestClients.CreateFactory(cluster.BootstrapServers), [TopicRequirement.Default(PipelineTopics.Output)], log);

        // Left to the readiness check, as a cluster that does not answer, with the cluster's own reason.
        await service.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        var warning = Assert.Single(log.Collector.GetSnapshot(), r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Contains("topic 'sample-output': ", warning.Message);
        Assert.DoesNotContain("does not exist", warning.Message);
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
