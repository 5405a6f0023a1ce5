var builder = DistributedApplication.CreateBuilder(args);

var filterGateway = builder.AddFilterServices();

builder.Build().Run();
