using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SignalPipeline.Kafka;

/// <summary>
/// A check of something that is not an options class of its own (the <c>Kafka:*</c> librdkafka properties, a limit derived
/// from them) run as one more options check at start (<c>ValidateOnStart</c>), so a refusal stops a service the way a
/// refused setting of its own does: an <see cref="OptionsValidationException"/> whose message is the refusal text (it names
/// the setting), reported with the other refusals in the one <c>crit:</c> line, before any hosted service starts.
/// Each check is a named instance of these options, which carry nothing.
/// </summary>
public sealed class StartCheck
{
    /// <summary>
    /// Adds the check <paramref name="name"/>: <paramref name="refusal"/> returns the refusal text, or null when all is well.
    /// </summary>
    public static void Add(IServiceCollection services, string name, Func<IServiceProvider, string?> refusal)
    {
        services.AddSingleton<IValidateOptions<StartCheck>>(provider => new Validator(name, () => refusal(provider)));
        services.AddOptions<StartCheck>(name).ValidateOnStart();
    }

    // Every validator of a type sees every named instance of it: each answers for its own name only.
    private sealed class Validator(string name, Func<string?> refusal) : IValidateOptions<StartCheck>
    {
        public ValidateOptionsResult Validate(string? optionsName, StartCheck options)
            => optionsName != name ? ValidateOptionsResult.Skip
                : refusal() is { } refused ? ValidateOptionsResult.Fail(refused)
                : ValidateOptionsResult.Success;
    }
}
