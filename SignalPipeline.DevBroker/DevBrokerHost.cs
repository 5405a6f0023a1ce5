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
        Start();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Starts the cluster and opens the bootstrap port, once. Program.cs calls it before the host runs, so that a port it
    /// cannot listen on stops the broker with the one <c>crit:</c> line of a refused setting (ServiceFailure), not the
    /// host's "Hosting failed to start" and a stack trace.
    /// </summary>
    public void Start()
    {
        if (_cluster is not null)
        {
            return;
        }

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
