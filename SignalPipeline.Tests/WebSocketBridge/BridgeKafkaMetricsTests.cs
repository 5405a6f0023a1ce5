using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;
using WebSocketBridge;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The bridge's Kafka-side instruments (docs/websocket-bridge.md, "Telemetry" and the limits table), read by name from
/// one in-process bridge reading an in-process mock cluster: chunks and samples consumed, undecodable records by
/// error, chunks of streams over <c>Bridge:MaxStreams</c> refused, and the consumer lag once everything is read; and the
/// group its consumer reads under.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BridgeKafkaMetricsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Each_record_of_the_output_topic_is_counted_as_consumed_undecodable_or_refused()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        await using var bridge = await StartBridgeAsync(cluster, ("Bridge:MaxStreams", "1"), ("Bridge:MaxChunkSamples", "50"));
        using var chunks = Collect<long>(bridge, "chunks.consumed").AssertDocumented(typeof(Counter<>), "{chunk}");
        using var samples = Collect<long>(bridge, "samples.consumed").AssertDocumented(typeof(Counter<>), "{sample}");
        using var undecodable = Collect<long>(bridge, "chunks.undecodable").AssertDocumented(typeof(Counter<>), "{chunk}");
        using var refused = Collect<long>(bridge, "streams.refused").AssertDocumented(typeof(Counter<>), "{chunk}");
        using var lag = Collect<long>(bridge, "consumer.lag").AssertDocumented(typeof(ObservableGauge<>), "{message}");
        using var overflowed = Collect<long>(bridge, "samples.overflowed").AssertDocumented(typeof(Counter<>), "{sample}");
        await WaitUntilReadingAsync(bridge);

        var factory = KafkaTestClients.CreateFactory(cluster.BootstrapServers);
        using (var producer = factory.CreateProducer<byte[], byte[]>(config => config.LingerMs = 1))
        {
            var output = new TopicPartition(PipelineTopics.DefaultOutput, 0);
            producer.Produce(output, SampleCodec.ToMessage(Filtered("kept", 0, 10)));
            producer.Produce(output, SampleCodec.ToMessage(Filtered("kept", 1, 20)));
            producer.Produce(output, new Message<byte[], byte[]> { Key = "kept"u8.ToArray(), Value = "{\"stream_id\":"u8.ToArray() });
            producer.Produce(output, SampleCodec.ToMessage(Filtered("kept", 2, 51)));
            producer.Produce(output, SampleCodec.ToMessage(Filtered("other", 0, 5)));
            producer.Produce(output, SampleCodec.ToMessage(Filtered("kept", 3, 5)));
            producer.Flush(Patience);
        }

        await Poll.UntilAsync(() => chunks.Sum() == 3, Patience, () => $"3 chunks consumed (got {chunks.Sum()})");
        Assert.Equal(10 + 20 + 5, samples.Sum());
        Assert.Equal(1, undecodable.Sum(("error", "malformed-json")));
        Assert.Equal(1, undecodable.Sum(("error", "too-many-samples")));
        Assert.Equal(2, undecodable.Sum());
        Assert.Equal(1, refused.Sum());
        await Poll.UntilAsync(() => lag.Observe() == 0, Patience, () => "the lag to show everything read");
    }

    /// <summary>
    /// A <c>group.id</c> in <c>Kafka:Consumer</c> or <c>Kafka:Client</c> is not the bridge's group: each replica keeps its
    /// unique throw-away id (librdkafka's own group log, <c>debug=cgrp</c>, names the group its consumer uses), and the
    /// setting is named in one warning (KafkaClientFactory) (docs/websocket-bridge.md, "Reading Kafka"). Until 2026-12-05 the
    /// factory applied the sections after the bridge's id, so every replica read under the configured one, without a word.
    /// </summary>
    [Fact]
    public async Task A_configured_group_id_is_ignored_with_a_warning_naming_the_setting()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 1);
        var log = new ErrorLog(LogLevel.Debug);
        await using var bridge = await StartBridgeAsync(cluster, log,
            ("Kafka:Consumer:group.id", "shared-by-every-replica"), ("Kafka:Client:group.id", "from-the-client-section"),
            ("Kafka:Consumer:debug", "cgrp"), ("Logging:LogLevel:Confluent.Kafka", "Debug"));
        await WaitUntilReadingAsync(bridge);

        // The consumer asks for its group's coordinator as it starts, naming the group: Group "name": ...
        string Dump() => string.Join(Environment.NewLine, log.Entries.Where(e => e.Contains("group", StringComparison.OrdinalIgnoreCase)).Take(40));
        await Poll.UntilAsync(() => log.Entries.Any(e => e.Contains("Group \"websocket-bridge-", StringComparison.Ordinal)), Patience,
            () => $"the consumer's group log naming the bridge's own group; saw:{Environment.NewLine}{Dump()}");
        // Named once (the section that won), though the service's factory made other consumers (the settings check).
        var warning = Assert.Single(log.Entries, e => e.Contains("group.id = ", StringComparison.Ordinal));
        Assert.StartsWith("Kafka:Consumer:group.id = 'shared-by-every-replica' is ignored: each of this service's consumers reads under the group the service gives it (this one websocket-bridge-", warning, StringComparison.Ordinal);
    }

    /// <summary>The whole bridge, its Kafka loop included, reading <paramref name="cluster"/>.</summary>
    internal static Task<InProcessHost> StartBridgeAsync(MockKafkaCluster cluster, params (string Key, string Value)[] settings)
        => StartBridgeAsync(cluster, log: null, settings);

    /// <summary>As above, with the bridge's log also written to <paramref name="log"/>.</summary>
    internal static Task<InProcessHost> StartBridgeAsync(MockKafkaCluster cluster, ILoggerProvider? log, params (string Key, string Value)[] settings)
        => StartBridgeAsync(cluster, log, services: null, settings);

    /// <summary>As above, with <paramref name="services"/> replacing the bridge's own registrations (a fake clock, a seam).</summary>
    internal static Task<InProcessHost> StartBridgeAsync(MockKafkaCluster cluster, ILoggerProvider? log, Action<IServiceCollection>? services,
        params (string Key, string Value)[] settings)
    {
        var all = settings.ToDictionary(s => s.Key, s => (string?)s.Value);
        all["ConnectionStrings:kafka"] = cluster.BootstrapServers;
        return InProcessHost.StartAsync(all,
            builder =>
            {
                if (log is not null)
                {
                    builder.Logging.AddProvider(log);
                }

                builder.AddServiceDefaults();
                builder.AddWebSocketBridgeServices();
                services?.Invoke(builder.Services);
            },
            app =>
            {
                app.UseWebSockets();
                app.MapBridgeEndpoints();
                app.MapDefaultEndpoints();
            });
    }

    private static FilteredChunk Filtered(string stream, long seq, int samples)
    {
        var signal = Enumerable.Range(0, samples).Select(i => i * 0.01).ToArray();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return new FilteredChunk(stream, seq, "kalman", signal, signal, now, now);
    }

    /// <summary>The bridge reads the topic from its end once assigned: records sent before that would never count.</summary>
    private static async Task WaitUntilReadingAsync(InProcessHost bridge)
    {
        using var http = bridge.CreateClient();
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var health = await http.GetAsync("/health").WaitAsync(Patience);
            if (health.StatusCode == HttpStatusCode.OK)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the bridge never became ready: {await health.Content.ReadAsStringAsync()}");
            await Task.Delay(100);
        }
    }

    private static MetricCollector<T> Collect<T>(InProcessHost bridge, string instrument)
        where T : struct
        => DocumentedMetric.Collect<T>(bridge.App.Services.GetRequiredService<IMeterFactory>(), BridgeMetrics.MeterName, $"signalpipeline.bridge.{instrument}");
}
