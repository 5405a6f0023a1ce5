using Microsoft.Extensions.Options;
using SignalPipeline.DevBroker;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();

builder.Services.AddSingleton<IValidateOptions<DevBrokerOptions>, DevBrokerOptionsValidator>();
builder.Services.AddOptions<DevBrokerOptions>()
    .BindConfiguration(DevBrokerOptions.SectionName)
    .ValidateOnStart();
builder.Services.AddProblemDetails();
builder.Services.AddSingleton<BootstrapForwarder>();
builder.Services.AddSingleton<DevBrokerHost>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<DevBrokerHost>());
builder.Services.AddSingleton<ClusterReadyHealthCheck>();
builder.Services.AddHealthChecks().AddCheck<ClusterReadyHealthCheck>("kafka", tags: ["ready"]);

var app = builder.BuildCheckingSettings(); // a refused setting stops the broker here, in one line naming every one
app.Services.GetRequiredService<DevBrokerHost>().Start(); // so does a bootstrap port it cannot listen on (not the host's stack trace)
app.UseStatusCodePages();
app.MapDefaultEndpoints();
if (app.Services.GetRequiredService<IOptions<DevBrokerOptions>>().Value.FaultInjection)
{
    app.MapFaultInjection();
    app.Logger.LogWarning("Fault injection is on (DevBroker:FaultInjection=true): POST /faults/* can fail requests and take brokers down");
}

app.MapGet("/", (DevBrokerHost host) => Results.Ok(new { bootstrapServers = host.BootstrapServers }));
// Exit 1 when a background service fails (the host's own exit code after one failed is 0).
return await app.RunReportingFailuresAsync();
