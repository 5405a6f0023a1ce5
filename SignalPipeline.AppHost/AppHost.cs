var builder = DistributedApplication.CreateBuilder(args);

// The dev broker, a Kafka container or an existing cluster: see docs/kafka.md.
var kafka = builder.AddKafka("kafka");

builder.AddProject<Projects.FilterService>("filter-kalman");

builder.AddSignalGenerator(kafka);
builder.AddFilterProcessor(kafka);

builder.Build().Run();
