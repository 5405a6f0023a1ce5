using Confluent.Kafka;
using FilterKafkaProcessor.Inspection;
using FilterKafkaProcessor.Kafka;
using FilterKafkaProcessor.Streaming;
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
    DirectoryTelemetry telemetry,
    StreamInstance self,
    StreamQueries queries,
    IServer server,
    IHostApplicationLifetime lifetime,
    ILogger<InstanceDirectoryService> logger) : BackgroundService
{
    private static readonly TimeSpan PartitionsQuestionWait = TimeSpan.FromMilliseconds(500);
    private Task<IReadOnlyList<int>>? _asking;

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

        int? partitions;
        try
        {
            partitions = await PartitionCountAsync(settings, stoppingToken);
        }
        catch (InvalidOperationException e)
        {
            // A missing topic the start-up check did not see (it leaves a cluster it could not read to readiness) stops the
            // service as that check does, with exit code 1: the host itself exits 0 after a background service failed.
            logger.LogCritical("{Reason}; stopping the service", e.Message);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
            return;
        }

        if (partitions is null)
        {
            return;
        }

        using var link = new DirectoryLink(kafka, settings.InstancesTopic, partitions.Value, logger, telemetry);
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken); // also ended by a refusal below
        var reading = Task.Factory.StartNew(() => Read(link, stopReading.Token), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var announcer = new InstanceAnnouncer(self, url, settings, directory, TimeProvider.System, link.Publish, link.Remove);
        logger.LogInformation("Announcing instance {Instance} at {Url} in {Topic} every {Heartbeat} s", self.Id, url, settings.InstancesTopic, settings.DirectoryHeartbeatSeconds);
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            do
            {
                if (link.Refused is { } refused)
                {
                    // Every heartbeat would be refused the same way until an operator changes the ACLs: the service stops
                    // (the host stops on a background service's failure), as for the stream thread's refusals.
                    throw AccessRefused(settings, refused);
                }

                try
                {
                    announcer.Tick(await OwnPartitionsAsync(stoppingToken));
                }
                catch (KafkaException e)
                {
                    logger.LogWarning("Announcing {Instance} failed: {Reason}; tried again at the next heartbeat", self.Id, e.Error.Reason);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            stopReading.Cancel();
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

    /// <summary>
    /// The input partitions the stream thread holds, or null when it has not answered yet (restoring, not started). At
    /// most one question waits at a time, so a stream thread that answers late never fills <see cref="StreamQueries"/>.
    /// </summary>
    private async Task<IReadOnlyList<int>?> OwnPartitionsAsync(CancellationToken stoppingToken)
    {
        try
        {
            _asking ??= queries.AskAsync<IReadOnlyList<int>>(tasks => [.. tasks.Keys.Order()], Timeout.InfiniteTimeSpan, stoppingToken);
        }
        catch (QueriesFullException)
        {
            return null;
        }

        await Task.WhenAny(_asking, Task.Delay(PartitionsQuestionWait, stoppingToken));
        if (!_asking.IsCompleted)
        {
            return null;
        }

        var asked = _asking;
        _asking = null;
        return asked.IsCompletedSuccessfully ? asked.Result : null;
    }

    /// <summary>The directory topic's partition count; retried while the broker cannot say (null: stopping).</summary>
    private async Task<int?> PartitionCountAsync(InstanceDirectoryOptions settings, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                return supplier.PartitionCount(settings.InstancesTopic) ?? throw new InvalidOperationException(
                    $"{PipelineTopics.InstancesSetting}: topic '{settings.InstancesTopic}' does not exist. Create the pipeline's topics with: signal-pipeline kafka topics ensure");
            }
            catch (KafkaException e) when (KafkaAccess.IsRefusal(e.Error.Code))
            {
                throw AccessRefused(settings, e.Error);
            }
            catch (KafkaException e)
            {
                logger.LogWarning("Reading {Topic}'s metadata failed ({Reason}); retrying", settings.InstancesTopic, e.Error.Reason);
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        return null;
    }

    private void Read(DirectoryLink link, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                link.Poll(TimeSpan.FromMilliseconds(200), directory);
            }
            catch (KafkaException e) when (KafkaAccess.IsRefusal(e.Error.Code))
            {
                return; // link.Refused: the announcing loop stops the service with it
            }
            catch (KafkaException e) when (!e.Error.IsFatal)
            {
                logger.LogWarning("Directory consume error: {Reason}", e.Error.Reason);
            }
        }
    }

    private static AccessRefusedException AccessRefused(InstanceDirectoryOptions settings, Error error)
        => AccessRefusedException.For($"the instance directory's topic '{settings.InstancesTopic}' was refused with {error.Code} ({error.Reason})",
            $"READ and WRITE on topic '{settings.InstancesTopic}' ({PipelineTopics.InstancesSetting})");
}
