using System.Globalization;
using Gateway = FilterGateway.FilterGatewayOptions;
using Processor = FilterKafkaProcessor.ProcessorOptions;
using Directory = FilterKafkaProcessor.Directory.InstanceDirectoryOptions;
using Service = FilterService.FilterServiceOptions;
using Bridge = WebSocketBridge.BridgeOptions;
using BridgeFilterState = WebSocketBridge.FilterState.FilterStateOptions;

namespace SignalPipeline.Tests.Infrastructure;

/// <summary>
/// README's configuration table quotes each setting's default; those quotes, built here from the options classes' own
/// defaults, are in it word for word, so a default changed in the code without README fails here (a doc claim is a
/// promise: README was checked by hand against the code on 2026-12-06, when its retry row gained the backoff's values).
/// </summary>
public sealed class ReadmeConfigurationTests
{
    private static readonly string Readme = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "README.md"));

    public static TheoryData<string> Quotes()
    {
        var processor = new Processor();
        var directory = new Directory();
        var gateway = new Gateway();
        var service = new Service();
        var bridge = new Bridge();
        var bridgeState = new BridgeFilterState();
        var devBroker = new global::SignalPipeline.DevBroker.DevBrokerOptions();
        const int livePagePort = global::Aspire.Hosting.WebSocketBridgeExtensions.DefaultPort;
        const int kafkaPort = global::Aspire.Hosting.KafkaExtensions.DefaultPort;
        const int topicPartitions = global::SignalPipeline.Cli.Kafka.TopicsCommand.DefaultPartitions;
        const int statistics = global::SignalPipeline.Kafka.KafkaSettings.DefaultStatisticsIntervalMs;
        const int maxStatistics = global::SignalPipeline.Kafka.KafkaSettings.MaxStatisticsIntervalMs;
        return
        [
            $"idle streams evicted after {processor.StreamIdleSeconds} s, held chunks released after {processor.HeldChunkTimeoutSeconds} s, "
                + $"{processor.MaxHeldChunks} held chunks per stream and {processor.MaxHeldBytes >> 20} MiB of them per instance, "
                + $"{processor.MaxStreams.ToString("N0", CultureInfo.InvariantCulture)} streams and {processor.MaxStreamBytes >> 20} MiB of their ids and filter states per instance, "
                + $"{processor.MaxStreamConfigs.ToString("N0", CultureInfo.InvariantCulture)} `stream-config` entries held, {processor.MaxChunkSamples.ToString("N0", CultureInfo.InvariantCulture)} samples per chunk",
            $"at most {processor.MaxBatchRecords} records, {processor.MaxBatchBytes >> 20} MiB of input and {processor.MaxBatchMs} ms of collecting",
            $"codec threads {processor.CodecThreads}; a `Rate:` log line every {processor.RateLogSeconds} s",
            $"({processor.RetryBackoffMs} ms, doubled per attempt up to {processor.MaxRetryBackoffMs / 1000} s); `/health` unhealthy after "
                + $"{processor.MaxBatchAttempts} failed attempts of a batch, {processor.StuckPartitionSeconds} s without a commit, or one step "
                + $"of the stream thread lasting {processor.StuckPartitionSeconds} s",
            $"a state restore that reads nothing for {processor.RestoreStallSeconds} s is abandoned and retried",
            $"{processor.MaxHttpConnections} connections, each read at most {processor.MaxHttpReadAheadBytes >> 10} KiB ahead",
            $"every {directory.DirectoryHeartbeatSeconds} s, others asked for {directory.StreamLookupTimeoutMs} ms each, {directory.MaxStreamLookups} lookups at once",
            $"Bodies over {gateway.LargeRequestBytes >> 20} MiB forwarded at once ({gateway.MaxConcurrentLargeRequests}); the rest wait up to "
                + $"{gateway.LargeRequestQueueTimeout.TotalSeconds} s",
            $"After {gateway.RefusalsPerAddress} answers 4xx to one client address within {gateway.RefusalWindow.TotalSeconds} s, its requests get 429 "
                + $"(held {gateway.RefusalDelay.TotalSeconds} s",
            $"per client address per second ({gateway.ProbesPerAddressPerSecond}); past them 429",
            $"per client address per second ({bridge.RequestsPerAddressPerSecond}, a burst of {2 * bridge.RequestsPerAddressPerSecond})",
            $"Open HTTP connections per instance ({gateway.MaxConnections}, {service.MaxConnections}, {bridge.MaxHttpConnections})",
            $"Request headers per request ({gateway.MaxRequestHeadersBytes >> 10} KiB; past it 431)",
            $"per connection ({gateway.MaxReadAheadBytes >> 10} KiB, {service.MaxReadAheadBytes >> 10} KiB, {bridge.MaxReadAheadBytes >> 10} KiB)",
            $"Open connections from one client address ({gateway.MaxConnectionsPerAddress}, {bridge.MaxHttpConnectionsPerAddress};",
            $"read ahead of their slot ({service.MaxWaitingBodyBytes >> 20} MiB)",
            $"Body limit ({gateway.MaxRequestBodyBytes >> 20} MiB, past it 413), health probes (every {gateway.HealthCheckInterval.TotalSeconds} s, "
                + $"{gateway.HealthCheckTimeout.TotalSeconds} s each; a dead service gets a fast 503), a silent service's 504 "
                + $"({gateway.ForwardActivityTimeout.TotalSeconds} s), connect retries ({gateway.ConnectRetries}), large requests per client "
                + $"address ({gateway.MaxLargeRequestsPerAddress}; one more gets 429), addresses each per-address limit tracks ({gateway.MaxTrackedAddresses})",
            $"A forwarded body not whole within it ({gateway.RequestBodyTimeout.TotalSeconds} s, below the services' {service.RequestTimeout.TotalSeconds} s)",
            $"slower than {gateway.LargeBodyMinBytesPerSecond >> 20} MiB/s gets 408 naming the setting, after {service.LargeBodyMinRateGracePeriod.TotalSeconds} s "
                + $"at the service (once it holds the large slot) and {gateway.LargeBodyMinRateGracePeriod.TotalSeconds} s at the gateway",
            $"read at most {bridge.ClientMessagesPerSecond} a second per client; a client silent for {bridge.KeepAliveIntervalSeconds} s is pinged and "
                + $"disconnected without a pong within {bridge.KeepAliveTimeoutSeconds} s), and the beats all clients hold together ({bridge.MaxHeldFrameBytes >> 20} MiB)",
            $"one cached answer per stream per {bridgeState.FilterStateCacheMilliseconds} ms",
            $"host port of the live page ({livePagePort})",
            $"its host port ({kafkaPort})",
            $"partitions `kafka-topics` creates ({topicPartitions})",
            $"statistics, exported as the `signalpipeline.kafka.*` metrics ({statistics}; 0 = off; "
                + $"0..{maxStatistics})",
            $"it pre-creates the pipeline's topics, {devBroker.Partitions} partitions each",
        ];
    }

    [Theory]
    [MemberData(nameof(Quotes))]
    public void README_quotes_the_codes_default(string quote)
    {
        // README wraps its prose at about 120 columns: compare with line breaks as spaces.
        Assert.Contains(quote, Readme.ReplaceLineEndings(" "));
    }
}
