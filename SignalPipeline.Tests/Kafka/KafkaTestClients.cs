using System.Collections.Concurrent;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.Kafka;
using SignalPipeline.Tests.Infrastructure;

namespace SignalPipeline.Tests.Kafka;

/// <summary>Kafka clients for tests, built with the project's own factory against the started app's broker.</summary>
internal static class KafkaTestClients
{
    public static async Task<KafkaClientFactory> CreateFactoryAsync(AppHostFixture fixture, IDictionary<string, string?>? settings = null)
    {
        await fixture.WaitForHealthyAsync("kafka");
        var bootstrap = await fixture.GetConnectionStringAsync("kafka");
        return CreateFactory(bootstrap, settings);
    }

    public static KafkaClientFactory CreateFactory(string bootstrapServers, IDictionary<string, string?>? settings = null)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:kafka"] = bootstrapServers })
            .AddInMemoryCollection(settings ?? new Dictionary<string, string?>())
            .Build();
        return new KafkaClientFactory(configuration, NullLoggerFactory.Instance, KafkaSettings.FromConfiguration(configuration));
    }

    /// <summary>A key no other test run (nor the app's own producers) uses.</summary>
    public static string NewRunId() => "test-" + Guid.NewGuid().ToString("N")[..12];
}

/// <summary>
/// Polls a consumer on its own thread (librdkafka needs the poll to take part in a rebalance) and keeps what it
/// receives whose key starts with <paramref name="keyPrefix"/>, and every assignment it was given.
/// </summary>
internal sealed class ConsumerLoop : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly IConsumer<string, string> _consumer;

    public ConsumerLoop(KafkaClientFactory factory, string groupId, string topic, string keyPrefix, string name)
    {
        Name = name;
        _consumer = factory.CreateConsumer<string, string>(groupId,
            config => config.AutoOffsetReset = AutoOffsetReset.Earliest,
            builder => builder
                .SetPartitionsAssignedHandler((_, partitions) => Assignments.Enqueue([.. partitions.Select(p => p.Partition.Value)]))
                .SetPartitionsRevokedHandler((_, _) => Assignments.Enqueue([])));
        _consumer.Subscribe(topic);
        _thread = new Thread(() =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    var result = _consumer.Consume(TimeSpan.FromMilliseconds(100));
                    if (result?.Message?.Key is { } key && key.StartsWith(keyPrefix, StringComparison.Ordinal))
                    {
                        Received[key] = result.Partition.Value;
                    }
                }
                catch (ConsumeException ex)
                {
                    Errors.Enqueue(ex.Error.Reason);
                }
            }
        })
        { IsBackground = true, Name = name };
        _thread.Start();
    }

    public string Name { get; }

    /// <summary>Keys received and the partition each came from.</summary>
    public ConcurrentDictionary<string, int> Received { get; } = new();

    /// <summary>The partitions of each assignment, in order (an empty one when revoked).</summary>
    public ConcurrentQueue<int[]> Assignments { get; } = new();

    public ConcurrentQueue<string> Errors { get; } = new();

    public int[] CurrentAssignment => Assignments.LastOrDefault() ?? [];

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join(TimeSpan.FromSeconds(30));
        _consumer.Close();
        _consumer.Dispose();
        _stop.Dispose();
    }
}
