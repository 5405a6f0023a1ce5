using Microsoft.Extensions.Options;
using SignalPipeline.Kafka;
using WebSocketBridge;

// The page's files. Published (the image), wwwroot is beside the assembly: served from there whatever the working
// directory (the default web root is the working directory's wwwroot: a published bridge started elsewhere answered 404
// at /). Run from the build output, which has no wwwroot, through the build's static web assets manifest, which the host
// reads only in Development unless asked: without it a build run in Production answered 404 at /. No manifest, no-op.
var published = Path.Combine(AppContext.BaseDirectory, "wwwroot");
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, WebRootPath = Directory.Exists(published) ? published : null });
builder.AddServiceDefaults();
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
