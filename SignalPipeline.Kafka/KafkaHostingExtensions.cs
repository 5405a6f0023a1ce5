using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace SignalPipeline.Kafka;

public static class KafkaHostingExtensions
{
    /// <summary>
    /// Registers <see cref="KafkaSettings"/>, <see cref="KafkaClientFactory"/>, <see cref="KafkaMetrics"/> and the
    /// <c>kafka</c> readiness check (tag <c>ready</c>). Settings are resolved here, at start, so a missing broker
    /// address stops the service with a message naming the setting; the <c>Kafka:*</c> librdkafka properties are checked
    /// with the options at start (<see cref="KafkaClientSettingsCheck"/>). The <c>SignalPipeline.Kafka</c> meter and activity
    /// source are picked up by the service defaults' OpenTelemetry setup (prefix <c>SignalPipeline.</c>).
    /// </summary>
    public static TBuilder AddKafkaClients<TBuilder>(this TBuilder builder, string connectionName = KafkaSettings.DefaultConnectionName)
        where TBuilder : IHostApplicationBuilder
    {
        var settings = KafkaSettings.FromConfiguration(builder.Configuration, connectionName);
        builder.Services.AddSingleton(settings with { ClientId = settings.ClientId ?? builder.Environment.ApplicationName });
        builder.Services.TryAddSingleton<KafkaMetrics>();
        if (builder.Services.Any(s => s.ServiceType == typeof(KafkaClientFactory)))
        {
            return builder;
        }

        builder.Services.AddSingleton<KafkaClientFactory>();
        KafkaClientSettingsCheck.Add(builder.Services);
        builder.Services.AddSingleton<KafkaHealthCheck>();
        builder.Services.AddHealthChecks().AddCheck<KafkaHealthCheck>(KafkaHealthCheck.Name, tags: ["ready"]);
        return builder;
    }
}
