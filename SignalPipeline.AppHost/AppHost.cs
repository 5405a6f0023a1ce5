var builder = DistributedApplication.CreateBuilder(args);

builder.AddProject<Projects.FilterService>("filter-kalman");

builder.Build().Run();
