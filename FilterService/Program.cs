using FilterService;

var builder = WebApplication.CreateBuilder(args);
builder.AddFilterService();

var app = builder.BuildCheckingSettings(); // a refused setting stops the service here, in one line naming every one
app.MapFilterService();
// Exit 1 when a background service fails (the host's own exit code after one failed is 0).
return await app.RunReportingFailuresAsync();
