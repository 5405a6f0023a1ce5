using FilterGateway;

var builder = WebApplication.CreateBuilder(args);
builder.AddFilterGateway();

var app = builder.Build();
app.MapFilterGateway();
app.Run();
