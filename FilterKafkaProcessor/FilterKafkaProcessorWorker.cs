using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.Inspection;
using FilterKafkaProcessor.Kafka;
using FilterKafkaProcessor.Streaming;
using Confluent.Kafka;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace FilterKafkaProcessor;

/// <summary>
/// Hosts one <see cref="StreamThread"/> on a dedicated thread for the service's lifetime; its health is <c>/health</c>'s
/// (readiness), and <see cref="Liveness"/> is <c>/alive</c>'s.
/// </summary>
public sealed class FilterKafkaProcessorWorker(
    KafkaSupplier kafka,
    IOptions<ProcessorOptions> options,
    IChunkFilterer filterer,
    ProcessorTelemetry telemetry,
    ILogger<StreamThread> logger,
    IHostApplicationLifetime lifetime,
    StreamConfigTable configs,
    StreamQueries queries) : BackgroundService, IHealthCheck
{
    private readonly ProcessorHealth _health = new(options.Value, TimeProvider.System);

    /// <summary>How long the worker waits before it starts again after Kafka did not answer its start.</summary>
    internal static readonly TimeSpan StartRetryDelay = TimeSpan.FromSeconds(5);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => Task.Factory.StartNew(() =>
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    Run(stoppingToken);
                    return;
                }
                catch (KafkaException e) when (!stoppingToken.IsCancellationRequested && !e.Error.IsFatal)
                {
                    // Kafka not answering yet (a broker that starts after the processor, as in a fresh deployment), or a
                    // topic it reports an error for (no leader yet): like the start-up topic check, left to readiness
                    // instead of a crash loop whose back-off would outlast the broker's start.
                    _health.StartFailed($"{e.Error.Code}: {e.Error.Reason}");
                    logger.LogWarning("The stream processor could not start (attempt {Attempt}; Kafka: {Reason}); trying again in {Delay} s",
                        attempt, e.Error.Reason, StartRetryDelay.TotalSeconds);
                    stoppingToken.WaitHandle.WaitOne(StartRetryDelay);
                }
                catch (Exception e) when (stoppingToken.IsCancellationRequested)
                {
                    // Stopped while a call to Kafka was running (the start's look-ups with Kafka out of reach): the stop
                    // was asked for, the call's failure is no reason to say the service failed.
                    logger.LogWarning("The stream processor stopped during a call to Kafka that failed: {Reason}", e.Message);
                    return;
                }
                catch (Exception e)
                {
                    // Only start-up failures get here (a missing topic, a fatal client error): the loop itself retries.
                    logger.LogCritical(e, "The stream processor failed; stopping the service");

                    // The host exits 0 after a background service failed; a service stopped by a bad setting or a fatal
                    // error must say so to whatever started it (a script, Compose's restart policy, the AppHost's dashboard).
                    Environment.ExitCode = 1;
                    lifetime.StopApplication();
                    throw;
                }

                if (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
            }
        }, stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stoppingToken)
    {
        // The stream configs first: a stream must not run the default for want of reading its entry.
        using var reader = new StreamConfigReader(kafka, options.Value, configs, logger);
        reader.CatchUp(TimeSpan.FromSeconds(options.Value.RestoreStallSeconds), stoppingToken);
        if (stoppingToken.IsCancellationRequested)
        {
            return; // stopped before the configs were read: nothing started, nothing to hand over
        }

        // The reader follows the topic on its own thread until the stream thread ends, however it ends: its consumer
        // is disposed with it, and librdkafka's memory is corrupted by a consumer disposed under a running Consume
        // (seen when a bad setting stopped the stream thread: the process aborted in glibc at exit). Refused the topic,
        // the reader stops the stream thread (a clean stop: its batch committed, its partitions handed over) and the
        // service stops with the refusal.
        using var stopThread = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        using var stopFollowing = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var following = Task.Factory.StartNew(() =>
        {
            reader.Run(stopFollowing.Token);
            if (reader.Refused is not null && !stopFollowing.IsCancellationRequested)
            {
                stopThread.Cancel();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            using var thread = new StreamThread(kafka, options.Value, filterer, telemetry, _health, TimeProvider.System, logger, kafka.MaxMessageBytes, configs, queries);
            thread.Run(stopThread.Token);
        }
        finally
        {
            stopFollowing.Cancel();
            Task.WaitAny([following], TimeSpan.FromSeconds(5));
        }

        if (reader.Refused is { } refused && !stoppingToken.IsCancellationRequested)
        {
            throw refused;
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(_health.Check());

    /// <summary>The stream thread's liveness (<see cref="ProcessorHealth.CheckLiveness"/>), the check tagged <c>live</c>.</summary>
    public sealed class Liveness(FilterKafkaProcessorWorker worker) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
            => Task.FromResult(worker._health.CheckLiveness());
    }
}
