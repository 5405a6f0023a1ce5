var builder = DistributedApplication.CreateBuilder(args);

// The dev broker, a Kafka container or an existing cluster: see docs/kafka.md.
var kafka = builder.AddKafka("kafka");

builder.AddProject<Projects.FilterService>("filter-kalman");

builder.AddSignalGenerator(kafka);
builder.AddFilterProcessor(kafka);

// The live page: http://127.0.0.1:5180 (see docs/websocket-bridge.md).
builder.AddWebSocketBridge(kafka);

builder.Build().Run();
