using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SignalPipeline.Kafka;

/// <summary>
/// The librdkafka properties of the <c>Kafka:Client</c>, <c>Kafka:Producer</c> and <c>Kafka:Consumer</c> sections as one
/// more options check at start (<c>ValidateOnStart</c>), so a refused property stops a service the way a refused setting
/// of its own does: an <see cref="OptionsValidationException"/> whose message names the setting
/// (<see cref="KafkaClientFactory.RefusedSetting"/>), reported with the other refusals, before any hosted service starts.
/// The options carry nothing: the sections are read by the factory, which builds the clients librdkafka checks them in.
/// </summary>
public sealed class KafkaClientSettingsCheck
{
    internal static void Add(IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<KafkaClientSettingsCheck>, Validator>();
        services.AddOptions<KafkaClientSettingsCheck>().ValidateOnStart();
    }

    private sealed class Validator(KafkaClientFactory factory) : IValidateOptions<KafkaClientSettingsCheck>
    {
        public ValidateOptionsResult Validate(string? name, KafkaClientSettingsCheck options)
            => factory.RefusedSetting() is { } refused ? ValidateOptionsResult.Fail(refused) : ValidateOptionsResult.Success;
    }
}
