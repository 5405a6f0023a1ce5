using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary>What a real client built by <see cref="KafkaClientFactory"/> logs while the cluster does not answer.</summary>
[Trait("Category", TestCategory.Integration)]
public sealed class KafkaClientLogTests
{
    [Fact]
    public async Task AClusterThatDoesNotAnswerIsReportedOnceNotOnEveryReconnect()
    {
        var collector = new FakeLogCollector();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new FakeLoggerProvider(collector)));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:kafka"] = "127.0.0.1:1",
            [KafkaSettings.StatisticsIntervalSetting] = "0",
            // librdkafka's own debug line for each failed attempt (facility FAIL, level debug) counts the attempts.
            [$"{KafkaSettings.ClientSection}:debug"] = "broker",
        }).Build();
        var factory = new KafkaClientFactory(configuration, loggers, KafkaSettings.FromConfiguration(configuration));

        using (factory.CreateProducer<byte[], byte[]>())
        {
            await WaitForAsync(() => Attempts(collector) >= 20).WaitAsync(TimeSpan.FromSeconds(60));
        }

        var reported = collector.GetSnapshot().Where(r => r.Level >= LogLevel.Information).ToList();
        Assert.True(reported.Count <= 4, $"{reported.Count} lines for {Attempts(collector)} attempts:\n" + string.Join("\n", reported.Select(r => r.Message)));
        var refused = Assert.Single(reported, r => r.Message.Contains("Local_Transport"));
        Assert.StartsWith("[rdkafka#producer-", refused.Message);
        Assert.Contains("127.0.0.1:1", refused.Message);
    }

    private static int Attempts(FakeLogCollector collector)
        => collector.GetSnapshot().Count(r => r.Level == LogLevel.Debug && r.Message.Contains("] FAIL: ") && r.Message.Contains("Connection refused"));

    private static async Task WaitForAsync(Func<bool> condition)
    {
        while (!condition())
        {
            await Task.Delay(100);
        }
    }
}
