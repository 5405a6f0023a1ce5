using FilterKafkaProcessor.Inspection;
using FilterKafkaProcessor.Kafka;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Directory;

/// <summary>
/// Keeps the instance directory (docs/processor.md, "Which instance answers"): reads the directory topic into
/// <see cref="InstanceDirectory"/> on its own thread, announces this instance once the HTTP server has bound its address
/// (then as <see cref="InstanceAnnouncer"/> decides), and removes it with a tombstone on a clean stop.
/// </summary>
public sealed class InstanceDirectoryService(
    KafkaClientFactory kafka,
    KafkaSupplier supplier,
    IOptions<InstanceDirectoryOptions> options,
    InstanceDirectory directory,
    StreamInstance self,
    StreamQueries queries,
    IServer server,
    IHostApplicationLifetime lifetime,
    ILogger<InstanceDirectoryService> logger) : BackgroundService
{
    private static readonly TimeSpan PartitionsQuestionTimeout = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        await WhenStartedAsync(stoppingToken);
        if (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var url = AdvertisedAddress.Choose(settings.AdvertisedUrl, addresses, Environment.GetEnvironmentVariable(AdvertisedAddress.PodIpVariable), Environment.MachineName);
        if (url is null)
        {
            logger.LogWarning("No HTTP address to announce (set {Setting}); other instances will not forward stream questions here", InstanceDirectoryOptions.AdvertisedUrlSetting);
            return;
        }

        var partitions = supplier.PartitionCount(settings.InstancesTopic) ?? throw new InvalidOperationException(
            $"{PipelineTopics.InstancesSetting}: topic '{settings.InstancesTopic}' does not exist. Create the pipeline's topics with: signal-pipeline kafka topics ensure");
        using var link = new DirectoryLink(kafka, settings.InstancesTopic, partitions, logger);
        var reading = Task.Factory.StartNew(() => Read(link, stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var announcer = new InstanceAnnouncer(self, url, settings, directory, TimeProvider.System, link.Publish, link.Remove);
        logger.LogInformation("Announcing instance {Instance} at {Url} in {Topic} every {Heartbeat} s", self.Id, url, settings.InstancesTopic, settings.DirectoryHeartbeatSeconds);
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            do
            {
                announcer.Tick(await OwnPartitionsAsync(stoppingToken));
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await reading.ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            link.Remove(self.Id);
            if (!link.Flush(TimeSpan.FromSeconds(5)))
            {
                logger.LogWarning("Could not remove {Instance} from the directory; it expires after {Expiry} s", self.Id, settings.Expiry.TotalSeconds);
            }
        }
    }

    private async Task WhenStartedAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onStarted = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>The input partitions the stream thread holds, or null when it does not answer soon (restoring, not started).</summary>
    private async Task<IReadOnlyList<int>?> OwnPartitionsAsync(CancellationToken stoppingToken)
    {
        try
        {
            return await queries.AskAsync<IReadOnlyList<int>>(tasks => [.. tasks.Keys.Order()], PartitionsQuestionTimeout, stoppingToken);
        }
        catch (Exception e) when (e is TimeoutException or QueriesFullException)
        {
            return null;
        }
    }

    private void Read(DirectoryLink link, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                link.Poll(TimeSpan.FromMilliseconds(200), directory);
            }
            catch (Confluent.Kafka.KafkaException e) when (!e.Error.IsFatal)
            {
                logger.LogWarning("Directory consume error: {Reason}", e.Error.Reason);
            }
        }
    }
}
