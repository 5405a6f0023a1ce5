using FilterGateway;

var builder = WebApplication.CreateBuilder(args);
builder.AddFilterGateway();

var app = builder.BuildCheckingSettings(); // a refused setting stops the service here, in one line naming every one
app.MapFilterGateway();
// Exit 1 when a background service fails (the host's own exit code after one failed is 0).
return await app.RunReportingFailuresAsync();
