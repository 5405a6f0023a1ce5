using System.Net;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Messages;
using SignalPipeline.Tests.FilterGateway;
using SignalPipeline.Tests.Infrastructure;
using SignalPipeline.Tests.Kafka;
using WebSocketBridge;
using WebSocketBridge.Streams;

namespace SignalPipeline.Tests.WebSocketBridge;

/// <summary>
/// The bridge's readiness check <c>output-topic-consumer</c> (docs/websocket-bridge.md, "Reading Kafka"; docs/operations.md,
/// "Health probes"): unready once the consumer has had errors and no successful fetch for Bridge:ConsumerStallSeconds,
/// ready again once reads succeed; an idle topic is ready; <c>/alive</c> stays green throughout.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class BridgeConsumerReadinessTests
{
    // A partition is let go only after two partition checks (30 s apart) agree it is gone: up to 60 s plus a margin.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private const string CheckName = "output-topic-consumer";

    [Fact]
    public async Task Refused_fetches_or_brokers_down_make_the_bridge_unready_after_ConsumerStallSeconds_and_it_is_ready_again_when_reads_succeed()
    {
        using var cluster = MockKafkaCluster.Start(1);
        await using var bridge = await StartReadingAsync(cluster);
        using var http = bridge.CreateClient();

        // Idle (nothing produced) for three times the bound: fetches answered with no records are not a stall.
        await Task.Delay(TimeSpan.FromSeconds(6));
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");

        // Every fetch refused (as a real cluster answers a consumer whose READ permission was taken away); metadata,
        // and so the `kafka` check, stay fine: only the consumer's own check can see this.
        cluster.PushRequestErrors(KafkaApi.Fetch, Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 100_000).ToArray());
        await UntilAsync(bridge, http, HttpStatusCode.ServiceUnavailable, HealthStatus.Unhealthy,
            "has had errors and no successful fetch", "(Bridge:ConsumerStallSeconds = 2)", "TopicAuthorizationFailed");
        await AssertAliveAsync(http);

        cluster.ClearRequestErrors(KafkaApi.Fetch);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");

        cluster.SetBrokerDown(MockKafkaCluster.AllBrokers);
        await UntilAsync(bridge, http, HttpStatusCode.ServiceUnavailable, HealthStatus.Unhealthy,
            "has had errors and no successful fetch", "(Bridge:ConsumerStallSeconds = 2)", "Local_");
        await AssertAliveAsync(http);

        cluster.SetBrokerUp(MockKafkaCluster.AllBrokers);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
    }

    /// <summary>
    /// While errors stand the loop seeks each partition to where it is, once a second, "nothing skipped or read twice"
    /// (docs/websocket-bridge.md, "Reading Kafka"). It took librdkafka's position, which can be unset after such a seek until a
    /// record is read, and then fell back to where the partition was assigned: every broker down for a few seconds made
    /// the bridge read each partition again from there, so live clients were sent the topic's data again (seen against a
    /// stand-alone dev broker: a stream of 79 chunks shown again, 15 minutes late).
    /// </summary>
    [Fact]
    public async Task Records_read_before_every_broker_went_down_are_not_read_again_once_they_are_back()
    {
        using var cluster = MockKafkaCluster.Start(1);
        await using var bridge = await StartReadingAsync(cluster);
        using var http = bridge.CreateClient();
        using var consumed = ChunksConsumed(bridge);
        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();
        using var producer = OutputProducer(cluster);

        await ReadOneThenEveryBrokerDownAndUpAsync(cluster, bridge, http, producer, streams);

        // Partition 1 is read in order, so "after" shown means "before" read again would have been counted first.
        Produce(producer, Partition1, "after");
        await ShownAsync(streams, "after");
        Assert.Equal(2, consumed.Sum());
    }

    /// <summary>
    /// <c>signalpipeline.bridge.consumer.lag</c> is the high watermark minus where the loop is (docs/websocket-bridge.md,
    /// "Telemetry"). It took librdkafka's position, which is unset after each re-arm's seek until a record is read, and
    /// counted nothing for such a partition: after every broker was down, records the bridge could not fetch (its fetches
    /// refused, as a real cluster answers a consumer whose READ permission was taken away) showed a lag of 0.
    /// </summary>
    [Fact]
    public async Task After_every_broker_was_down_the_consumer_lag_counts_the_records_not_read_yet_and_none_once_read()
    {
        using var cluster = MockKafkaCluster.Start(1);
        await using var bridge = await StartReadingAsync(cluster);
        using var http = bridge.CreateClient();
        using var lag = BridgeMetric(bridge, "consumer.lag");
        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();
        using var producer = OutputProducer(cluster);

        await ReadOneThenEveryBrokerDownAndUpAsync(cluster, bridge, http, producer, streams);

        // Fetches refused, then three records the bridge cannot read: the refused fetches still carry the high watermark.
        cluster.PushRequestErrors(KafkaApi.Fetch, Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, 100_000).ToArray());
        await UntilAsync(bridge, http, HttpStatusCode.ServiceUnavailable, HealthStatus.Unhealthy, "TopicAuthorizationFailed");
        foreach (var stream in new[] { "unread-1", "unread-2", "unread-3" })
        {
            Produce(producer, Partition1, stream);
        }

        await Poll.UntilAsync(() => lag.Observe() == 3, Patience, () => $"a lag of the 3 records not read (gauge {lag.Observe()})");
        Assert.DoesNotContain(streams.Summaries(), s => s.StreamId.StartsWith("unread-", StringComparison.Ordinal));

        // Fetches answered again: all three read, and nothing behind.
        cluster.ClearRequestErrors(KafkaApi.Fetch);
        await ShownAsync(streams, "unread-3");
        await Poll.UntilAsync(() => lag.Observe() == 0, Patience, () => $"a lag of 0 once everything is read (gauge {lag.Observe()})");
    }

    [Fact]
    public async Task A_ListOffsets_error_at_start_is_retried_with_a_warning_naming_it_and_the_bridge_becomes_ready()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        // The bridge's first two end-offset queries refused with an error librdkafka does not retry by itself (an
        // UNKNOWN_TOPIC_OR_PART once it retries, so the bridge never sees it): before, the first stopped the bridge.
        cluster.PushRequestErrors(KafkaApi.ListOffsets, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);
        var log = new ErrorLog(LogLevel.Warning);
        await using var bridge = await BridgeKafkaMetricsTests.StartBridgeAsync(cluster, log);
        using var http = bridge.CreateClient();

        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
        Assert.Contains(log.Entries, e => e.Contains($"Reading the end offsets of {PipelineTopics.DefaultOutput} failed (TopicAuthorizationFailed"));
        Assert.DoesNotContain(log.Entries, e => e.Contains("stopped"));
    }

    /// <summary>
    /// A topic whose metadata lists no usable partitions at start (here the dev broker reports it with
    /// <c>LEADER_NOT_AVAILABLE</c>, as a cluster does while a new topic's leaders are elected; the start-up topic check
    /// leaves such a topic to the consumer): the loop waits, `/health` says so, with a warning each try, and it is
    /// read once metadata lists it (docs/websocket-bridge.md, "Reading Kafka").
    /// </summary>
    [Fact]
    public async Task A_topic_without_usable_partitions_at_start_is_waited_for_with_the_waiting_text_and_read_once_it_has_them()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        cluster.SetTopicError(PipelineTopics.DefaultOutput, ErrorCode.LeaderNotAvailable);
        var log = new ErrorLog(LogLevel.Warning);
        await using var bridge = await BridgeKafkaMetricsTests.StartBridgeAsync(cluster, log);
        using var http = bridge.CreateClient();

        await UntilAsync(bridge, http, HttpStatusCode.ServiceUnavailable, HealthStatus.Unhealthy,
            $"The output-topic consumer is waiting: topic '{PipelineTopics.DefaultOutput}' has no partitions yet.");
        await AssertAliveAsync(http);
        // Tried again each second, a warning each time.
        await Poll.UntilAsync(() => log.Entries.Count(e => e.StartsWith($"Topic {PipelineTopics.DefaultOutput} not found or without partitions; retrying", StringComparison.Ordinal)) >= 2,
            Patience, () => $"two warnings of the retry; saw: {string.Join(" | ", log.Entries)}");

        cluster.SetTopicError(PipelineTopics.DefaultOutput, ErrorCode.NoError);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
        await ProduceAndSeeShownAsync(cluster, bridge, partitions: 2);
    }

    [Fact]
    public async Task The_output_topic_deleted_makes_the_bridge_unready_and_created_again_it_reads_it_again_new_partitions_included()
    {
        using var cluster = MockKafkaCluster.Start(1);
        await using var bridge = await StartReadingAsync(cluster);
        using var http = bridge.CreateClient();

        // librdkafka reports the topic gone once metadata has said so for topic.metadata.propagation.max.ms (30 s); the
        // `kafka` check stays ready (the cluster answers metadata), the consumer's check turns unready.
        cluster.DeleteTopic(PipelineTopics.DefaultOutput);
        await UntilAsync(bridge, http, HttpStatusCode.ServiceUnavailable, HealthStatus.Unhealthy,
            "has had errors and no successful fetch", "UnknownTopicOrPart");
        await AssertAliveAsync(http);

        // Created again with one more partition: ready again, and the new partition read within 30 s.
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 3);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 3 partitions");
        await ProduceAndSeeShownAsync(cluster, bridge, partitions: 3);
    }

    [Fact]
    public async Task The_output_topic_created_again_with_fewer_partitions_is_read_and_the_health_text_counts_its_partitions()
    {
        using var cluster = MockKafkaCluster.Start(1);
        await using var bridge = await StartReadingAsync(cluster);
        using var http = bridge.CreateClient();

        // Created again with one partition where it had two: once two of the bridge's partition checks (30 s apart) have not
        // listed it, the gone one is let go. Before, the health text said "Reading 2 partitions" for as long as the bridge ran.
        cluster.DeleteTopic(PipelineTopics.DefaultOutput);
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 1);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 1 partition of");
        await ProduceAndSeeShownAsync(cluster, bridge, partitions: 1);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 1 partition of");
    }

    [Fact]
    public async Task A_partition_one_partition_check_leaves_out_is_still_read_with_nothing_replayed_and_nothing_lost()
    {
        using var cluster = MockKafkaCluster.Start(1);
        var (time, metadata) = FakeClockAndMetadata();
        await using var bridge = await StartReadingAsync(cluster, time, metadata);
        using var http = bridge.CreateClient();
        using var consumed = ChunksConsumed(bridge);
        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();
        using var producer = OutputProducer(cluster);

        Produce(producer, Partition1, "before");
        await ShownAsync(streams, "before");

        // One check does not list partition 1, the next lists it again. Before, the first let it go and the second read it
        // again from its beginning: "before" was shown twice (a real topic's whole retention replayed to live clients).
        var leftOut = metadata.LeaveOutNext(Partition1);
        time.Advance(TimeSpan.FromSeconds(31));
        await leftOut.WaitAsync(Patience);
        Produce(producer, Partition1, "during");
        var listed = metadata.NextAnswer();
        time.Advance(TimeSpan.FromSeconds(31));
        await listed.WaitAsync(Patience);
        Produce(producer, Partition1, "after");
        await ShownAsync(streams, "after");

        // Partition 1 is read in order, so "after" shown means anything replayed before it was counted too.
        Assert.Contains(streams.Summaries(), s => s.StreamId == "during");
        Assert.Equal(3, consumed.Sum());
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
    }

    [Fact]
    public async Task Partition_checks_whose_metadata_does_not_show_the_topic_let_no_partition_go()
    {
        using var cluster = MockKafkaCluster.Start(1);
        var (time, metadata) = FakeClockAndMetadata();
        await using var bridge = await StartReadingAsync(cluster, time, metadata);
        using var http = bridge.CreateClient();
        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();
        using var producer = OutputProducer(cluster);

        // Two checks in a row whose metadata does not show the topic (deleted, or the request failed: the source answers
        // no partitions), as docs/websocket-bridge.md says, change nothing: both partitions are still read.
        for (var check = 0; check < 2; check++)
        {
            var answered = metadata.LeaveOutNext(Partition0, Partition1);
            time.Advance(TimeSpan.FromSeconds(31));
            await answered.WaitAsync(Patience);
        }

        Produce(producer, Partition0, "after-0");
        Produce(producer, Partition1, "after-1");
        await ShownAsync(streams, "after-0");
        await ShownAsync(streams, "after-1");
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
    }

    private static readonly TopicPartition Partition0 = new(PipelineTopics.DefaultOutput, 0);
    private static readonly TopicPartition Partition1 = new(PipelineTopics.DefaultOutput, 1);

    /// <summary>
    /// A fake clock to drive the 30 s partition checks, and a metadata seam that can answer a check as a broker with stale
    /// metadata would.
    /// </summary>
    private static (FakeTimeProvider Time, LeaveOutOnceTopicPartitions Metadata) FakeClockAndMetadata()
        => (new FakeTimeProvider(DateTimeOffset.UtcNow),
            new LeaveOutOnceTopicPartitions(new MetadataTopicPartitions(NullLogger<MetadataTopicPartitions>.Instance)));

    /// <summary>As <see cref="StartReadingAsync(MockKafkaCluster)"/>, on <paramref name="time"/> and <paramref name="metadata"/>; streams kept.</summary>
    private static Task<InProcessHost> StartReadingAsync(MockKafkaCluster cluster, FakeTimeProvider time, ITopicPartitionSource metadata)
        => StartReadingAsync(cluster, services =>
        {
            services.AddSingleton<TimeProvider>(time);
            services.AddSingleton(metadata);
        }, ("Bridge:StreamTtlSeconds", "86400"));

    /// <summary>A producer of output-topic records on <paramref name="cluster"/>, each sent at once.</summary>
    private static IProducer<byte[], byte[]> OutputProducer(MockKafkaCluster cluster)
        => KafkaTestClients.CreateFactory(cluster.BootstrapServers).CreateProducer<byte[], byte[]>(config => config.LingerMs = 1);

    /// <summary>The bridge's <c>chunks.consumed</c> counter: records read and shown, each read counted.</summary>
    private static MetricCollector<long> ChunksConsumed(InProcessHost bridge) => BridgeMetric(bridge, "chunks.consumed");

    /// <summary>The bridge's instrument <c>signalpipeline.bridge.</c><paramref name="instrument"/>.</summary>
    private static MetricCollector<long> BridgeMetric(InProcessHost bridge, string instrument)
        => DocumentedMetric.Collect<long>(bridge.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            BridgeMetrics.MeterName, $"signalpipeline.bridge.{instrument}");

    /// <summary>
    /// A chunk ("before", partition 1) read and shown, then every broker down until the consumer's check is unready (errors
    /// stood for Bridge:ConsumerStallSeconds, 2 s: the loop re-armed the ends more than once), then up until it is ready.
    /// </summary>
    private static async Task ReadOneThenEveryBrokerDownAndUpAsync(MockKafkaCluster cluster, InProcessHost bridge, HttpClient http,
        IProducer<byte[], byte[]> producer, LiveStreamRegistry streams)
    {
        Produce(producer, Partition1, "before");
        await ShownAsync(streams, "before");
        cluster.SetBrokerDown(MockKafkaCluster.AllBrokers);
        await UntilAsync(bridge, http, HttpStatusCode.ServiceUnavailable, HealthStatus.Unhealthy, "has had errors and no successful fetch");
        cluster.SetBrokerUp(MockKafkaCluster.AllBrokers);
        await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
    }

    private static void Produce(IProducer<byte[], byte[]> producer, TopicPartition partition, string stream)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        producer.Produce(partition, SampleCodec.ToMessage(new FilteredChunk(stream, 0, "kalman", new double[] { 1, 2 }, new double[] { 1, 2 }, now, now)));
        producer.Flush(Patience);
    }

    private static Task ShownAsync(LiveStreamRegistry streams, string stream)
        => Poll.UntilAsync(() => streams.Summaries().Any(s => s.StreamId == stream), Patience,
            () => $"stream '{stream}' shown; streams: {string.Join(", ", streams.Summaries().Select(s => s.StreamId))}");

    /// <summary>Metadata as the cluster answers it, but one answer can leave a partition out (a broker's stale metadata).</summary>
    private sealed class LeaveOutOnceTopicPartitions(ITopicPartitionSource inner) : ITopicPartitionSource
    {
        private readonly Lock _lock = new();
        private TopicPartition[] _leaveOut = [];
        private TaskCompletionSource _answered = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The next answer leaves <paramref name="partitions"/> out; the task completes once it is given.</summary>
        public Task LeaveOutNext(params TopicPartition[] partitions)
        {
            lock (_lock)
            {
                _leaveOut = partitions;
                return (_answered = new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
        }

        /// <summary>Completes once the next answer (the cluster's own) is given.</summary>
        public Task NextAnswer()
        {
            lock (_lock)
            {
                return (_answered = new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
        }

        public List<TopicPartition> Get(Handle client, string topic)
        {
            var partitions = inner.Get(client, topic);
            lock (_lock)
            {
                partitions.RemoveAll(_leaveOut.Contains);
                _leaveOut = [];

                // Completed after the answer is returned would race the loop; the loop acts on it before its next check.
                _answered.TrySetResult();
                return partitions;
            }
        }
    }

    /// <summary>Produces a chunk to each of the first <paramref name="partitions"/> partitions and waits until the bridge shows each.</summary>
    private static async Task ProduceAndSeeShownAsync(MockKafkaCluster cluster, InProcessHost bridge, int partitions)
    {
        var factory = KafkaTestClients.CreateFactory(cluster.BootstrapServers);
        using (var producer = factory.CreateProducer<byte[], byte[]>(config => config.LingerMs = 1))
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            for (var partition = 0; partition < partitions; partition++)
            {
                var chunk = new FilteredChunk($"after-{partition}", 0, "kalman", new double[] { 1, 2 }, new double[] { 1, 2 }, now, now);
                producer.Produce(new TopicPartition(PipelineTopics.DefaultOutput, partition), SampleCodec.ToMessage(chunk));
            }

            producer.Flush(Patience);
        }

        var streams = bridge.App.Services.GetRequiredService<LiveStreamRegistry>();
        await Poll.UntilAsync(() => streams.Summaries().Count(s => s.StreamId.StartsWith("after-", StringComparison.Ordinal)) == partitions, Patience,
            () => $"a chunk of each partition shown; streams: {string.Join(", ", streams.Summaries().Select(s => s.StreamId))}");
    }

    /// <summary>A bridge with Bridge:ConsumerStallSeconds = 2, ready, reading an output topic of 2 partitions on <paramref name="cluster"/>.</summary>
    private static Task<InProcessHost> StartReadingAsync(MockKafkaCluster cluster)
        => StartReadingAsync(cluster, services: null, ("Bridge:ConsumerStallSeconds", "2"));

    /// <summary>A bridge with <paramref name="settings"/>, ready, reading an output topic of 2 partitions on <paramref name="cluster"/>.</summary>
    private static async Task<InProcessHost> StartReadingAsync(MockKafkaCluster cluster, Action<IServiceCollection>? services, params (string Key, string Value)[] settings)
    {
        cluster.CreateTopic(PipelineTopics.DefaultOutput, 2);
        var bridge = await BridgeKafkaMetricsTests.StartBridgeAsync(cluster, log: null, services, settings);
        try
        {
            using var http = bridge.CreateClient();
            await UntilAsync(bridge, http, HttpStatusCode.OK, HealthStatus.Healthy, "Reading 2 partitions");
            return bridge;
        }
        catch
        {
            await bridge.DisposeAsync();
            throw;
        }
    }

    /// <summary>Polls <c>/health</c> and the consumer's check until both show the expected state.</summary>
    private static async Task UntilAsync(InProcessHost bridge, HttpClient http, HttpStatusCode status, HealthStatus check, params string[] description)
    {
        var health = bridge.App.Services.GetRequiredService<HealthCheckService>();
        var seen = "";
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var response = await http.GetAsync("/health").WaitAsync(Patience);
            var report = await health.CheckHealthAsync(r => r.Name == CheckName).WaitAsync(Patience);
            var entry = report.Entries[CheckName];
            seen = $"/health {(int)response.StatusCode}, {CheckName} {entry.Status}: {entry.Description}";
            if (response.StatusCode == status && entry.Status == check && description.All(d => entry.Description?.Contains(d) == true))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"waited {Patience.TotalSeconds:0} s for /health {(int)status} and {check} with '{string.Join("', '", description)}'; last seen: {seen}");
            await Task.Delay(200);
        }
    }

    private static async Task AssertAliveAsync(HttpClient http)
    {
        using var alive = await http.GetAsync("/alive").WaitAsync(Patience);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }
}
