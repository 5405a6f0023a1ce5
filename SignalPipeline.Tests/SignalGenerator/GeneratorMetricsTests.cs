using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using SignalGenerator;
using SignalPipeline.DevBroker;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.SignalGenerator;

/// <summary>
/// The generator's instruments (docs/messages.md: <c>signal_generator.samples</c>, <c>.chunks</c>,
/// <c>.delivery_errors</c>, <c>.batch_size</c>, <c>.rate</c>), read by name from one in-process generator's meters
/// while it produces a fixed number of chunks to an in-process mock cluster.
/// </summary>
[Trait("Category", TestCategory.Integration)]
public sealed class GeneratorMetricsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Samples_chunks_batches_and_rate_count_what_was_produced()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);
        using var host = Build(cluster);
        using var samples = Collect<long>(host, "samples").AssertDocumented(typeof(Counter<>), "{sample}");
        using var chunks = Collect<long>(host, "chunks").AssertDocumented(typeof(Counter<>), "{chunk}");
        using var batches = Collect<long>(host, "batch_size").AssertDocumented(typeof(Histogram<>), "{chunk}");
        using var errors = Collect<long>(host, "delivery_errors").AssertDocumented(typeof(Counter<>), "{chunk}");
        using var rate = Collect<double>(host, "rate").AssertDocumented(typeof(ObservableGauge<>), "{sample}/s");
        await host.StartAsync().WaitAsync(Patience);

        // 3 streams x 40 chunks of 16 samples, at most 32 chunks per stream in one batch.
        await Poll.UntilAsync(() => chunks.Sum() == 120, Patience, () => $"120 chunks produced (got {chunks.Sum()})");
        Assert.Equal(120 * 16, samples.Sum());
        Assert.Equal(120, batches.Sum());
        Assert.All(batches.Matching(), m => Assert.True(m.Value % 3 == 0 && m.Value <= 3 * 32, $"a batch of {m.Value} chunks"));
        Assert.True(rate.Observe() > 0, "the first observation covers the samples produced");
        Assert.Equal(0, rate.Observe());
        await host.StopAsync().WaitAsync(Patience);
        Assert.Equal(0, errors.Sum());
    }

    [Fact]
    public async Task Each_chunk_the_broker_never_acknowledges_is_a_delivery_error()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);
        cluster.SetBrokerDown(MockKafkaCluster.AllBrokers);
        using var host = Build(cluster, ("Kafka:Producer:message.timeout.ms", "1000"));
        using var chunks = Collect<long>(host, "chunks");
        using var errors = Collect<long>(host, "delivery_errors");
        await host.StartAsync().WaitAsync(Patience);

        await Poll.UntilAsync(() => chunks.Sum() == 120 && errors.Sum() == 120, Patience, () => $"120 chunks undelivered (got {errors.Sum()} of {chunks.Sum()})");
        await host.StopAsync().WaitAsync(Patience);
        Assert.Equal(120, errors.Sum());
    }

    [Fact]
    public async Task A_json_chunk_size_too_large_to_produce_stops_the_start_and_the_largest_it_allows_is_delivered()
    {
        using var cluster = MockKafkaCluster.Start(1);
        cluster.CreateTopic(PipelineTopics.DefaultInput, 2);

        // Until 2026-12-06 the start passed and the worker's first produce threw "Broker: Message size too large".
        var refused = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(async () =>
        {
            using var tooLarge = Build(cluster, ("Generator:ChunkSize", "65536"), ("Generator:Streams", "1"));
            await tooLarge.StartAsync().WaitAsync(Patience);
        });
        Assert.Contains("Generator:ChunkSize = 65536 makes Json records of up to ", refused.Message);
        var fits = System.Text.RegularExpressions.Regex.Match(refused.Message, "at most (\\d+)").Groups[1].Value;

        using var host = Build(cluster, ("Generator:ChunkSize", fits), ("Generator:Streams", "1"), ("Generator:MaxChunks", "3"));
        using var chunks = Collect<long>(host, "chunks");
        using var errors = Collect<long>(host, "delivery_errors");
        await host.StartAsync().WaitAsync(Patience);
        await Poll.UntilAsync(() => chunks.Sum() == 3, Patience, () => $"3 chunks of {fits} samples produced (got {chunks.Sum()})");
        await host.StopAsync().WaitAsync(Patience);
        Assert.Equal(0, errors.Sum());

        // The generated samples are shorter than the longest: the largest record of that size is taken too.
        var options = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GeneratorOptions>>().Value;
        using var producer = host.Services.GetRequiredService<KafkaClientFactory>().CreateProducer<byte[], byte[]>();
        var largest = GeneratorRecordSizeCheck.LargestRecord(options, int.Parse(fits, System.Globalization.CultureInfo.InvariantCulture));
        var delivered = await producer.ProduceAsync(PipelineTopics.DefaultInput, largest).WaitAsync(Patience);
        Assert.Equal(Confluent.Kafka.PersistenceStatus.Persisted, delivered.Status);
    }

    /// <summary>One generator host on the cluster: 3 streams of 16-sample chunks, 40 each, flat out; <paramref name="extra"/> wins.</summary>
    internal static IHost Build(MockKafkaCluster cluster, params (string Key, string Value)[] extra)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:kafka"] = cluster.BootstrapServers,
            ["Generator:Streams"] = "3",
            ["Generator:ChunkSize"] = "16",
            ["Generator:Rate"] = "0",
            ["Generator:MaxChunks"] = "40",
        });
        builder.Configuration.AddInMemoryCollection(extra.ToDictionary(e => e.Key, e => (string?)e.Value));
        builder.AddKafkaClients();
        builder.AddSignalGeneratorServices();
        return builder.Build();
    }

    internal static MetricCollector<T> Collect<T>(IHost host, string instrument)
        where T : struct
    {
        host.Services.GetRequiredService<GeneratorMetrics>();
        return DocumentedMetric.Collect<T>(host.Services.GetRequiredService<IMeterFactory>(), GeneratorMetrics.Name, $"signal_generator.{instrument}");
    }
}
