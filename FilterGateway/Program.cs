using FilterGateway;

var builder = WebApplication.CreateBuilder(args);
builder.AddFilterGateway();

var app = builder.Build();
app.CheckSettingsBeforeStart(); // a refused setting stops the service here, in one line naming it
app.MapFilterGateway();
app.Run();
