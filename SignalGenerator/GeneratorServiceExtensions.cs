using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;

namespace SignalGenerator;

public static class GeneratorServiceExtensions
{
    /// <summary>
    /// The generator's options (validated at start), telemetry, start-up topic check and worker. Kafka clients come from
    /// <c>AddKafkaClients</c>.
    /// </summary>
    public static TBuilder AddSignalGeneratorServices<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<GeneratorOptions>()
            .BindConfiguration(GeneratorOptions.SectionName)
            .PostConfigure<IConfiguration>((options, configuration) => options.Topic ??= configuration[PipelineTopics.InputSetting] ?? PipelineTopics.DefaultInput)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<GeneratorOptions>, GeneratorOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<GeneratorOptions>, GeneratorRecordSizeCheck>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<GeneratorMetrics>();
        builder.Services.AddSingleton<DeliveryHealth>();
        builder.Services.AddHealthChecks().AddCheck<DeliveryHealth>(DeliveryHealth.Name);
        // Hosted services start in the order they are added, and the worker produces as soon as it starts: its first
        // record would create a missing topic on a broker that auto-creates (Apache Kafka's default, the dev broker),
        // so the check must have passed before the worker starts.
        builder.Services.AddKafkaTopicCheck(sp => [new(PipelineTopics.Input, sp.GetRequiredService<IOptions<GeneratorOptions>>().Value.Topic!)]);
        builder.Services.AddHostedService<SignalGeneratorWorker>();
        return builder;
    }
}
