using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;
using WebSocketBridge;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddWebSocketBridgeServices();
builder.Services.AddKafkaTopicCheck(sp => [new(PipelineTopics.Output, sp.GetRequiredService<IOptions<BridgeOptions>>().Value.Topic)]);

var app = builder.BuildCheckingSettings(); // a refused setting stops the service here, in one line naming every one

app.UseDefaultFiles();
app.UseStaticFiles();
app.UseWebSockets(); // keep-alive from Bridge:KeepAliveIntervalSeconds / KeepAliveTimeoutSeconds (AddWebSocketBridgeServices)
app.MapBridgeEndpoints();
app.MapDefaultEndpoints();

// Exit 1 when a background service fails (the host's own exit code after one failed is 0).
return await app.RunReportingFailuresAsync();
