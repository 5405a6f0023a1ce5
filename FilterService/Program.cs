using FilterService;

var builder = WebApplication.CreateBuilder(args);
builder.AddFilterService();

var app = builder.Build();
app.CheckSettingsBeforeStart(); // a refused setting stops the service here, in one line naming it
app.MapFilterService();
app.Run();
