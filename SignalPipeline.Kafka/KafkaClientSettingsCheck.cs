using Microsoft.Extensions.DependencyInjection;

namespace SignalPipeline.Kafka;

/// <summary>
/// The librdkafka properties of the <c>Kafka:Client</c>, <c>Kafka:Producer</c> and <c>Kafka:Consumer</c> sections as one
/// more options check at start (<see cref="StartCheck"/>), so a refused property stops a service the way a refused setting
/// of its own does: a message that names the setting (<see cref="KafkaClientFactory.RefusedSetting"/>), reported with the
/// other refusals, before any hosted service starts. The sections are read by the factory, which builds the clients
/// librdkafka checks them in.
/// </summary>
public static class KafkaClientSettingsCheck
{
    internal static void Add(IServiceCollection services)
        => StartCheck.Add(services, nameof(KafkaClientSettingsCheck), provider => provider.GetRequiredService<KafkaClientFactory>().RefusedSetting());
}
