using FilterProcessor.Filtering;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;

namespace FilterProcessor;

/// <summary>Hosts one <see cref="StreamProcessor"/> on a dedicated thread for the service's lifetime.</summary>
public sealed class FilterProcessorWorker(
    KafkaClientFactory kafka,
    IOptions<ProcessorOptions> options,
    IChunkFilterer filterer,
    ProcessorTelemetry telemetry,
    ILogger<StreamProcessor> logger,
    IHostApplicationLifetime lifetime) : BackgroundService, IHealthCheck
{
    private StreamProcessor? _processor;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => Task.Factory.StartNew(() =>
        {
            try
            {
                using var processor = _processor = new StreamProcessor(kafka, options.Value, filterer, telemetry, logger);
                processor.Run(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogCritical(e, "The stream processor failed; stopping the service");
                lifetime.StopApplication();
                throw;
            }
        }, stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(_processor?.IsRunning == true
            ? HealthCheckResult.Healthy($"Consuming {options.Value.InputTopic}")
            : HealthCheckResult.Unhealthy("The stream processor is not running yet."));
}
