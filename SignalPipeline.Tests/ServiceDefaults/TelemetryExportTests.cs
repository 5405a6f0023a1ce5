using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace SignalPipeline.Tests.ServiceDefaults;

/// <summary>
/// Every meter the services define reaches the exporter that ServiceDefaults configures (its <c>AddMeter</c> of the
/// <c>SignalPipeline.</c> prefix): a meter left out would be invisible on the dashboard whatever its own tests read.
/// </summary>
public sealed class TelemetryExportTests
{
    [Fact]
    public async Task An_instrument_of_each_services_meter_is_exported_by_the_service_defaults()
    {
        var exported = new HashSet<string>();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        builder.ConfigureOpenTelemetry();
        builder.Services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddReader(new BaseExportingMetricReader(new NameExporter(exported))));
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var meters = host.Services.GetRequiredService<IMeterFactory>();

        // One instrument of each meter, made to record once, by the services' own classes and meter names.
        new global::FilterService.FilterServiceMetrics(meters).Rejected("test");
        new global::WebSocketBridge.BridgeMetrics(meters).FrameDropped();
        new global::FilterGateway.GatewayMetrics(meters).Rejected("test");
        using var processor = new global::FilterKafkaProcessor.ProcessorTelemetry(meters);
        processor.ConfigSwitched(1);
        new global::SignalGenerator.GeneratorMetrics(meters).DeliveryFailed();
        using var kafka = new SignalPipeline.Kafka.KafkaMetrics(meters);
        using var block = new LargeBlockMemoryPool.Factory(LargeBlockMemoryPool.DefaultBlockSize).Create().Rent();

        Assert.True(host.Services.GetRequiredService<MeterProvider>().ForceFlush(10_000), "the metrics were not flushed");
        string[] expected =
        [
            "signalpipeline.filter.requests.rejected", "signalpipeline.bridge.frames.dropped", "signalpipeline.gateway.requests.rejected",
            "signalpipeline.processor.config.switches", "signal_generator.delivery_errors", "signalpipeline.kafka.statistics.dropped",
            "signalpipeline.kestrel.memory.allocated",
        ];
        lock (exported)
        {
            Assert.All(expected, name => Assert.Contains(name, exported));
        }

        await host.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>Keeps the names of the metrics each export carries.</summary>
    private sealed class NameExporter(HashSet<string> names) : BaseExporter<Metric>
    {
        public override ExportResult Export(in Batch<Metric> batch)
        {
            lock (names)
            {
                foreach (var metric in batch)
                {
                    names.Add(metric.Name);
                }
            }

            return ExportResult.Success;
        }
    }
}
