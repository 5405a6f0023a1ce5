using Microsoft.Extensions.Options;
using SignalPipeline.DevBroker;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();

builder.Services.AddOptions<DevBrokerOptions>()
    .BindConfiguration(DevBrokerOptions.SectionName)
    .ValidateDataAnnotations()
    .ValidateOnStart();
builder.Services.AddProblemDetails();
builder.Services.AddSingleton<BootstrapForwarder>();
builder.Services.AddSingleton<DevBrokerHost>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<DevBrokerHost>());
builder.Services.AddSingleton<ClusterReadyHealthCheck>();
builder.Services.AddHealthChecks().AddCheck<ClusterReadyHealthCheck>("kafka", tags: ["ready"]);

var app = builder.Build();
app.UseStatusCodePages();
app.MapDefaultEndpoints();
if (app.Services.GetRequiredService<IOptions<DevBrokerOptions>>().Value.FaultInjection)
{
    app.MapFaultInjection();
}

app.MapGet("/", (DevBrokerHost host) => Results.Ok(new { bootstrapServers = host.BootstrapServers }));
app.Run();
