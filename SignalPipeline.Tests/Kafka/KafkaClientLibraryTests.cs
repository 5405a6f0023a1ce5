using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using SignalPipeline.Kafka;

namespace SignalPipeline.Tests.Kafka;

/// <summary>SignalPipeline.Kafka without a broker: settings, statistics parsing, trace headers, registration.</summary>
public sealed class KafkaClientLibraryTests
{
    // The shape of librdkafka's statistics (STATISTICS.md), trimmed to what is read plus neighbours.
    private const string ConsumerStatistics = """
        {
          "name": "rdkafka#consumer-7", "client_id": "rdkafka", "type": "consumer", "ts": 1, "time": 2,
          "tx": 10, "tx_bytes": 999, "rx": 12, "rx_bytes": 5000,
          "txmsgs": 0, "txmsg_bytes": 0, "rxmsgs": 120, "rxmsg_bytes": 4096,
          "topics": {
            "sample-input": {
              "topic": "sample-input",
              "partitions": {
                "0": { "partition": 0, "consumer_lag": 15, "consumer_lag_stored": 20 },
                "1": { "partition": 1, "consumer_lag": -1 },
                "-1": { "partition": -1, "consumer_lag": -1 }
              }
            }
          }
        }
        """;

    [Fact]
    public void Statistics_become_counters_and_per_partition_lag()
    {
        var time = new ManualTime();
        using var metrics = new KafkaMetrics(time: time);
        using var collector = new KafkaMetricCollector();

        metrics.Record(ConsumerStatistics, "group-a", TimeSpan.FromSeconds(5));

        Assert.Equal(120, collector.Latest(KafkaMetrics.ConsumedMessages, "rdkafka#consumer-7"));
        Assert.Equal(4096, collector.Latest(KafkaMetrics.ConsumedBytes, "rdkafka#consumer-7"));
        Assert.Equal(0, collector.Latest(KafkaMetrics.ProducedMessages, "rdkafka#consumer-7"));
        Assert.Equal(15, collector.Lag("rdkafka#consumer-7", "sample-input", "0"));
        // Unknown lag (-1) and librdkafka's internal partition -1 are not reported.
        Assert.Null(collector.Lag("rdkafka#consumer-7", "sample-input", "1"));
        Assert.Null(collector.Lag("rdkafka#consumer-7", "sample-input", "-1"));
    }

    [Fact]
    public void A_client_silent_for_three_intervals_is_no_longer_reported()
    {
        var time = new ManualTime();
        using var metrics = new KafkaMetrics(time: time);
        metrics.Record(ConsumerStatistics, "group-a", TimeSpan.FromSeconds(5));

        time.Advance(TimeSpan.FromSeconds(14));
        using (var collector = new KafkaMetricCollector())
        {
            Assert.Equal(120, collector.Latest(KafkaMetrics.ConsumedMessages, "rdkafka#consumer-7"));
        }

        time.Advance(TimeSpan.FromSeconds(2));
        using (var collector = new KafkaMetricCollector())
        {
            Assert.Null(collector.Latest(KafkaMetrics.ConsumedMessages, "rdkafka#consumer-7"));
        }
    }

    [Fact]
    public void Trace_context_round_trips_through_message_headers()
    {
        var context = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, "vendor=value");
        var headers = new Headers { { KafkaTracing.TraceParentHeader, "stale"u8.ToArray() } };

        KafkaTracing.InjectTraceContext(headers, context);

        Assert.Single(headers, h => h.Key == KafkaTracing.TraceParentHeader);
        Assert.Equal($"00-{context.TraceId}-{context.SpanId}-01", Encoding.UTF8.GetString(headers.GetLastBytes(KafkaTracing.TraceParentHeader)));
        Assert.Equal("vendor=value", Encoding.UTF8.GetString(headers.GetLastBytes(KafkaTracing.TraceStateHeader)));
        var extracted = KafkaTracing.ExtractTraceContext(headers);
        Assert.Equal(context.TraceId, extracted.TraceId);
        Assert.Equal(context.SpanId, extracted.SpanId);
        Assert.True(extracted.IsRemote);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-traceparent")]
    [InlineData("00-00000000000000000000000000000000-0000000000000000-01")]
    public void Missing_or_malformed_trace_context_gives_no_parent(string? traceparent)
    {
        var headers = new Headers();
        if (traceparent is not null)
        {
            headers.Add(KafkaTracing.TraceParentHeader, Encoding.UTF8.GetBytes(traceparent));
        }

        Assert.Equal(default, KafkaTracing.ExtractTraceContext(headers));
    }

    [Fact]
    public void Without_a_recorded_producer_span_the_current_trace_context_is_still_written()
    {
        // docs/kafka.md, Tracing. Nothing here listens to the Kafka source, but another test may meanwhile: then the
        // producer span is the current activity's child, in the same trace.
        using var caller = new Activity("caller").SetIdFormat(ActivityIdFormat.W3C).Start();
        var headers = new Headers();

        using var produce = KafkaTracing.StartProduce("sample-input", headers);

        var written = KafkaTracing.ExtractTraceContext(headers);
        Assert.Equal(caller.TraceId, written.TraceId);
        Assert.Equal(produce?.SpanId ?? caller.SpanId, written.SpanId);
    }

    [Fact]
    public void The_consumer_span_is_a_child_of_the_producer_span_in_the_headers()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == KafkaTracing.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var headers = new Headers();

        using var produce = KafkaTracing.StartProduce("sample-input", headers, "producer-1");
        Assert.NotNull(produce);
        produce.Stop();
        using var process = KafkaTracing.StartProcess(new ConsumeResult<string, string>
        {
            TopicPartitionOffset = new TopicPartitionOffset("sample-input", new Partition(2), new Offset(41)),
            Message = new Message<string, string> { Key = "k", Value = "v", Headers = headers },
        }, "group-a");

        Assert.NotNull(process);
        Assert.Equal(ActivityKind.Producer, produce.Kind);
        Assert.Equal(ActivityKind.Consumer, process.Kind);
        Assert.Equal(produce.TraceId, process.TraceId);
        Assert.Equal(produce.SpanId, process.ParentSpanId);
        Assert.Equal("kafka", process.GetTagItem("messaging.system"));
        Assert.Equal("sample-input", process.GetTagItem("messaging.destination.name"));
        Assert.Equal("2", process.GetTagItem("messaging.destination.partition.id"));
        Assert.Equal(41L, process.GetTagItem("messaging.kafka.offset"));
        Assert.Equal("group-a", process.GetTagItem("messaging.consumer.group.name"));
    }

    [Fact]
    public void Settings_prefer_the_connection_string_then_KAFKA_BROKERS_and_name_what_is_missing()
    {
        Assert.Equal("a:1", KafkaSettings.FromConfiguration(Configuration(("ConnectionStrings:kafka", "a:1"), ("KAFKA_BROKERS", "b:2"))).BootstrapServers);
        Assert.Equal("b:2", KafkaSettings.FromConfiguration(Configuration(("KAFKA_BROKERS", " b:2 "))).BootstrapServers);

        var missing = Assert.Throws<InvalidOperationException>(() => KafkaSettings.FromConfiguration(Configuration()));
        Assert.Contains("ConnectionStrings:kafka", missing.Message);
        Assert.Contains("KAFKA_BROKERS", missing.Message);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("soon")]
    [InlineData("86400001")] // past librdkafka's range: before, every client build failed naming statistics.interval.ms alone
    public void A_bad_statistics_interval_names_the_setting(string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            KafkaSettings.FromConfiguration(Configuration(("KAFKA_BROKERS", "b:2"), (KafkaSettings.StatisticsIntervalSetting, value))));
        Assert.Contains(KafkaSettings.StatisticsIntervalSetting, error.Message);
    }

    [Fact]
    public void The_largest_statistics_interval_librdkafka_takes_is_taken_and_builds_a_client()
    {
        var configuration = Configuration(("KAFKA_BROKERS", "127.0.0.1:1"), (KafkaSettings.StatisticsIntervalSetting, "86400000"));
        var settings = KafkaSettings.FromConfiguration(configuration);
        Assert.Equal(86_400_000, settings.StatisticsIntervalMs);
        using var factory = new KafkaClientFactory(configuration, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, settings);
        Assert.Null(factory.RefusedSetting());
    }

    [Fact]
    public void Client_settings_layer_defaults_then_configuration_sections_then_code()
    {
        var configuration = Configuration(
            ("KAFKA_BROKERS", "b:2"),
            (KafkaSettings.StatisticsIntervalSetting, "0"),
            ("Kafka:Consumer:fetch.wait.max.ms", "250"),
            ("Kafka:Producer:linger.ms", "7"));
        var factory = new KafkaClientFactory(configuration, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, KafkaSettings.FromConfiguration(configuration));

        var consumer = factory.CreateConsumerConfig("g", c => c.SessionTimeoutMs = 10_000);
        Assert.Equal("b:2", consumer.BootstrapServers);
        Assert.Equal("g", consumer.GroupId);
        Assert.Equal(250, consumer.FetchWaitMaxMs);       // section over the default
        Assert.Equal(10_000, consumer.SessionTimeoutMs);  // code over the default
        Assert.Equal(2000, consumer.HeartbeatIntervalMs); // default
        Assert.Equal(0, consumer.StatisticsIntervalMs);

        var producer = factory.CreateProducerConfig();
        Assert.Equal(7, producer.LingerMs);
    }

    [Fact]
    public async Task AddKafkaClients_registers_the_factory_metrics_and_a_ready_health_check_once()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:kafka"] = "127.0.0.1:1";
        builder.AddKafkaClients();
        builder.AddKafkaClients();
        using var host = builder.Build();

        Assert.Same(host.Services.GetRequiredService<KafkaMetrics>(), host.Services.GetRequiredService<KafkaClientFactory>().Metrics);
        var registration = Assert.Single(host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HealthCheckServiceOptions>>().Value.Registrations);
        Assert.Equal(KafkaHealthCheck.Name, registration.Name);
        Assert.Contains("ready", registration.Tags);

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HealthStatus.Unhealthy, report.Status);
    }

    private static IConfiguration Configuration(params (string Key, string? Value)[] values)
        => new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, v.Value))).Build();

    private sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = DateTimeOffset.UnixEpoch;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
