using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;
using WebSocketBridge;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// The page's files: from wwwroot when published (the image), else through the build output's static web assets manifest,
// which the host reads only in Development; without it a build run in Production answered 404 at /. No manifest, no-op.
builder.WebHost.UseStaticWebAssets();
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
