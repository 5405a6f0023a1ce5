var builder = DistributedApplication.CreateBuilder(args);

// The dev broker, a Kafka container or an existing cluster: see docs/kafka.md.
var kafka = builder.AddKafka("kafka");

// filter-kalman, filter-rls, filter-ls and the gateway in front of them: see docs/filter-api.md.
var filterGateway = builder.AddFilterServices();

builder.AddSignalGenerator(kafka);
var processor = builder.AddFilterKafkaProcessor(kafka, filterGateway);

// The live page: http://127.0.0.1:5180 (see docs/websocket-bridge.md).
builder.AddWebSocketBridge(kafka).WithFilterStateFrom(processor);

builder.Build().Run();
