using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace SignalPipeline.Kafka;

public static class KafkaHostingExtensions
{
    /// <summary>
    /// Registers <see cref="KafkaSettings"/> and <see cref="KafkaClientFactory"/>. Settings are resolved here, at start,
    /// so a missing broker address stops the service with a message naming the setting.
    /// </summary>
    public static TBuilder AddKafkaClients<TBuilder>(this TBuilder builder, string connectionName = KafkaSettings.DefaultConnectionName)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddSingleton(KafkaSettings.FromConfiguration(builder.Configuration, connectionName));
        builder.Services.AddSingleton<KafkaClientFactory>();
        return builder;
    }
}
