using Microsoft.Extensions.Options;
using SignalGenerator;
using SignalPipeline.Kafka;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddKafkaClients();
builder.AddSignalGeneratorServices();

var app = builder.BuildCheckingSettings(); // a refused setting stops the service here, in one line naming every one
app.MapDefaultEndpoints();

// What is being produced, for people and scripts (benchmarks read the sample count).
app.MapGet("/", (IOptions<GeneratorOptions> options, GeneratorMetrics metrics) => new
{
    options.Value.Enabled,
    options.Value.Topic,
    options.Value.Streams,
    options.Value.Shapes,
    options.Value.ChunkSize,
    options.Value.Rate,
    Format = options.Value.Format.ToString(),
    SamplesProduced = metrics.TotalSamples,
});

// Exit 1 when the worker fails (the host's own exit code after a failed background service is 0).
return await app.RunReportingFailuresAsync();
