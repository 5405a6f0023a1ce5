using FilterGateway;

var builder = WebApplication.CreateBuilder(args);
builder.AddFilterGateway();

var app = builder.BuildCheckingSettings(); // a refused setting stops the service here, in one line naming every one
app.MapFilterGateway();
app.Run();
