using FilterKafkaProcessor;
using FilterKafkaProcessor.Config;
using FilterKafkaProcessor.Directory;
using FilterKafkaProcessor.Filtering;
using FilterKafkaProcessor.Inspection;
using Microsoft.Extensions.Options;
using SignalPipeline.Filters;
using SignalPipeline.Kafka;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddKafkaClients();

builder.Services.AddProcessorOptions(builder.Configuration);
builder.Services.AddProcessorHttpLimits();
builder.Services.AddInstanceDirectoryOptions(builder.Configuration);
builder.Services.AddSingleton<ProcessorTelemetry>();

// At start: a missing topic, a changelog that is not compacted and co-partitioned, or a topic it writes that takes smaller
// records than its producer may send, stops the service naming the fix.
builder.Services.AddKafkaTopicCheck(services =>
{
    var options = services.GetRequiredService<IOptions<ProcessorOptions>>().Value;
    long writes = services.GetRequiredService<FilterKafkaProcessor.Kafka.KafkaSupplier>().MaxMessageBytes;
    return [new(PipelineTopics.Input, options.InputTopic), .. options.WrittenTopics(writes), new(PipelineTopics.StreamConfig, options.StreamConfigTopic),
        new(PipelineTopics.Instances, services.GetRequiredService<IOptions<InstanceDirectoryOptions>>().Value.InstancesTopic)];
});

builder.Services.AddHttpClient(nameof(RemoteChunkFilterer), (services, http) =>
    http.BaseAddress = new Uri(services.GetRequiredService<IOptions<ProcessorOptions>>().Value.GatewayUrl));
builder.Services.AddSingleton<IChunkFilterer>(services =>
{
    var options = services.GetRequiredService<IOptions<ProcessorOptions>>().Value;
    return options.Mode == FilterMode.Remote
        ? new RemoteChunkFilterer(services.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(RemoteChunkFilterer)), options.Algorithm, options.Params,
            services.GetRequiredService<ILoggerFactory>().CreateLogger<RemoteChunkFilterer>(), TimeProvider.System)
        : new LocalChunkFilterer(options.Algorithm, options.Params);
});

builder.Services.AddSingleton<FilterKafkaProcessor.Kafka.KafkaSupplier>();
FilterKafkaProcessor.Kafka.MessageSizeCheck.Add(builder.Services); // a message.max.bytes no checkpoint fits stops the start with the other settings
builder.Services.AddSingleton(services =>
{
    var options = services.GetRequiredService<IOptions<ProcessorOptions>>().Value;
    return new StreamConfigTable(StreamFilterConfig.Create(options.Algorithm, options.Params), options.MaxStreamConfigs, services.GetRequiredService<ProcessorTelemetry>());
});
builder.Services.AddSingleton<StreamQueries>();
builder.Services.AddSingleton(services => new StreamInstance(
    services.GetRequiredService<IOptions<ProcessorOptions>>().Value.InstanceId ?? $"{Environment.MachineName}-{Environment.ProcessId}"));

// Which instance holds which partitions, so any instance answers GET /streams/{id} (docs/processor.md, "Which instance answers").
builder.Services.AddSingleton(services => new InstanceDirectory(services.GetRequiredService<IOptions<InstanceDirectoryOptions>>().Value.Expiry, TimeProvider.System));
builder.Services.AddSingleton<DirectoryTelemetry>();
builder.Services.AddSingleton(services => new StreamLookup(services.GetRequiredService<InstanceDirectory>(),
    services.GetRequiredService<StreamInstance>(), services.GetRequiredService<IOptions<InstanceDirectoryOptions>>().Value));
builder.Services.AddHostedService<InstanceDirectoryService>();
builder.Services.AddSingleton<FilterKafkaProcessorWorker>();
builder.Services.AddHostedService(services => services.GetRequiredService<FilterKafkaProcessorWorker>());
// Readiness (/health) says whether the processor moves its input; liveness (/alive, the Kubernetes liveness probe) only
// whether a step of the stream thread never returns, the one case a restart cures (docs/processor.md).
builder.Services.AddHealthChecks()
    .AddCheck<FilterKafkaProcessorWorker>("stream-processor")
    .AddCheck<FilterKafkaProcessorWorker.Liveness>("stream-thread", tags: ["live"]);

var app = builder.BuildCheckingSettings(); // a refused setting stops the service here, in one line naming every one

// Created now, not by the first GET /streams/{id} that asks for it: its instances gauge is there from the start.
app.Services.GetRequiredService<DirectoryTelemetry>();
app.MapDefaultEndpoints();
app.MapStreamEndpoints();
// Exit 1 when a background service fails (the host's own exit code after one failed is 0).
return await app.RunReportingFailuresAsync();
