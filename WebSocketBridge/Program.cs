using WebSocketBridge;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddWebSocketBridge();

var app = builder.Build();

app.UseDefaultFiles();
app.UseStaticFiles();
app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(20) });
app.MapBridgeEndpoints();
app.MapDefaultEndpoints();

app.Run();
