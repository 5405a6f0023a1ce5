using FilterService;

var builder = WebApplication.CreateBuilder(args);
builder.AddFilterService();

var app = builder.BuildCheckingSettings(); // a refused setting stops the service here, in one line naming every one
app.MapFilterService();
app.Run();
