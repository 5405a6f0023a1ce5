using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;

namespace SignalGenerator;

public static class GeneratorServiceExtensions
{
    /// <summary>The generator's options (validated at start), telemetry and worker. Kafka clients come from <c>AddKafkaClients</c>.</summary>
    public static TBuilder AddSignalGeneratorServices<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOptions<GeneratorOptions>()
            .BindConfiguration(GeneratorOptions.SectionName)
            .PostConfigure<IConfiguration>((options, configuration) => options.Topic ??= configuration[PipelineTopics.InputSetting] ?? PipelineTopics.DefaultInput)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<GeneratorOptions>, GeneratorOptionsValidator>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<GeneratorMetrics>();
        builder.Services.AddSingleton<DeliveryHealth>();
        builder.Services.AddHealthChecks().AddCheck<DeliveryHealth>(DeliveryHealth.Name);
        builder.Services.AddHostedService<SignalGeneratorWorker>();
        return builder;
    }
}
