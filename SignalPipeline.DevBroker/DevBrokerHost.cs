using Microsoft.Extensions.Options;

namespace SignalPipeline.DevBroker;

/// <summary>
/// Owns the mock cluster for the life of the process: starts it, creates the topics, opens the bootstrap port,
/// and destroys it at stop (SIGTERM included, through the host's shutdown).
/// </summary>
public sealed class DevBrokerHost(IOptions<DevBrokerOptions> options, BootstrapForwarder forwarder, ILogger<DevBrokerHost> logger)
    : IHostedService, IAsyncDisposable
{
    private MockKafkaCluster? _cluster;

    /// <summary>The running cluster, for fault injection.</summary>
    public MockKafkaCluster Cluster => _cluster ?? throw new InvalidOperationException("The dev broker is not running.");

    /// <summary>Where clients bootstrap from, once started.</summary>
    public string? BootstrapServers { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        _cluster = MockKafkaCluster.Start(settings.Brokers);
        _cluster.SetGroupInitialRebalanceDelay(TimeSpan.FromMilliseconds(settings.GroupInitialRebalanceDelayMs));
        foreach (var topic in settings.TopicNames)
        {
            _cluster.CreateTopic(topic, settings.Partitions);
        }

        try
        {
            forwarder.Start(settings.BootstrapPort, _cluster.FirstBroker);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new InvalidOperationException(
                $"The dev broker cannot listen on {DevBrokerOptions.SectionName}:{nameof(DevBrokerOptions.BootstrapPort)}={settings.BootstrapPort}: {ex.Message}", ex);
        }

        BootstrapServers = $"127.0.0.1:{forwarder.Port}";
        logger.LogInformation(
            "Dev Kafka broker (librdkafka {Version} mock cluster, in memory) bootstrap {Bootstrap} -> brokers {Brokers}; topics {Topics} with {Partitions} partitions",
            MockKafkaCluster.LibrdkafkaVersion, BootstrapServers, _cluster.BootstrapServers, string.Join(", ", settings.TopicNames), settings.Partitions);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await forwarder.DisposeAsync();
        _cluster?.Dispose();
        _cluster = null;
        logger.LogInformation("Dev Kafka broker stopped; its data is gone");
    }

    public async ValueTask DisposeAsync()
    {
        await forwarder.DisposeAsync();
        _cluster?.Dispose();
        _cluster = null;
    }
}
