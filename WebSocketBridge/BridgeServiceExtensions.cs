using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SignalPipeline.Kafka;
using WebSocketBridge.Clients;
using WebSocketBridge.FilterState;
using WebSocketBridge.Streams;

namespace WebSocketBridge;

public static class BridgeServiceExtensions
{
    /// <summary>The bridge's services: options (validated at start), Kafka loop, frame pump, client registry, metrics.</summary>
    public static WebApplicationBuilder AddWebSocketBridgeServices(this WebApplicationBuilder builder)
    {
        builder.AddKafkaClients();

        builder.Services.AddSingleton<IValidateOptions<BridgeOptions>, BridgeOptionsValidator>();
        builder.Services.AddOptions<BridgeOptions>()
            .BindConfiguration(BridgeOptions.SectionName)
            .PostConfigure<IConfiguration>((options, configuration) =>
            {
                // The guide's name for the processor's output topic, which is what the bridge reads. Set but blank, it
                // is refused by the validator naming it, as the processor refuses it, not taken as unset.
                if (configuration[PipelineTopics.OutputSetting] is { } topic)
                {
                    options.Topic = topic;
                }
            })
            .ValidateOnStart();

        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<BridgeOptions>, IOptions<TrustedProxies>, BridgeMetrics, ConnectionReadAhead>((kestrel, options, trusted, metrics, readAhead) =>
            {
                kestrel.Limits.MaxConcurrentConnections = options.Value.MaxHttpConnections;
                var perAddress = new AddressConnectionLimit(options.Value.MaxHttpConnectionsPerAddress, trusted.Value, () => metrics.ConnectionRejected("tcp_address_limit"));
                kestrel.ConfigureEndpointDefaults(listen => listen.Use(perAddress.Apply).Use(readAhead.Apply));
            });

        // UseWebSockets() reads these: the keep-alive pings each client and aborts its socket when no pong comes in time,
        // rather than sending unsolicited pongs that need no answer and so never find a client that is gone.
        builder.Services.AddOptions<WebSocketOptions>()
            .Configure<IOptions<BridgeOptions>>((webSockets, options) =>
            {
                webSockets.KeepAliveInterval = TimeSpan.FromSeconds(options.Value.KeepAliveIntervalSeconds);
                webSockets.KeepAliveTimeout = TimeSpan.FromSeconds(options.Value.KeepAliveTimeoutSeconds);
            });

        builder.Services.AddKestrelReadAhead<BridgeOptions>(options => options.MaxReadAheadBytes);
        // Made at start with its gauge, .read_ahead (what MaxReadAheadBytes bounds per connection).
        builder.Services.AddActivatedSingleton(services =>
        {
            var readAhead = new ConnectionReadAhead();
            services.GetRequiredService<BridgeMetrics>().ObserveReadAhead(() => readAhead.Bytes);
            return readAhead;
        });
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<BridgeMetrics>();
        builder.Services.AddSingleton<RequestBudget>();
        builder.Services.AddTransient<IStartupFilter, RequestBudgetStartupFilter>();
        builder.Services.AddTransient<IStartupFilter, ClientFrameThrottleStartupFilter>();
        builder.Services.AddSingleton<LiveStreamRegistry>();
        builder.Services.AddSingleton<ClientRegistry>();
        builder.Services.AddSingleton<HeldFrames>();
        builder.Services.AddSingleton<ConsumerReadiness>();
        builder.Services.TryAddSingleton<ITopicPartitionSource, MetadataTopicPartitions>();
        builder.Services.AddHostedService<SampleOutputConsumer>();
        builder.Services.AddHostedService<FramePump>();
        builder.Services.AddHealthChecks().AddCheck<ConsumerReadiness>("output-topic-consumer");
        builder.AddFilterStateView();

        builder.Services.ConfigureHttpJsonOptions(json =>
            json.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower);
        return builder;
    }
}
