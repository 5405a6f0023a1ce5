using FilterService;

var builder = WebApplication.CreateBuilder(args);
builder.AddFilterService();

var app = builder.Build();
app.MapFilterService();
app.Run();
