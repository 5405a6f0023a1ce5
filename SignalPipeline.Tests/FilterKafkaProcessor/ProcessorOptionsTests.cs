using FilterKafkaProcessor;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SignalPipeline.Tests.FilterKafkaProcessor;

/// <summary>The processor's settings: the guide's names and the tuning knobs bind, and a bad one is refused with its name.</summary>
public class ProcessorOptionsTests
{
    [Fact]
    public void GuideNamesAndTuningKnobsBind()
    {
        var options = Bind(new()
        {
            ["INPUT_TOPIC"] = "in",
            ["OUTPUT_TOPIC"] = "out",
            ["FILTER_ALGORITHM"] = " RLS ",
            ["FILTER_MODE"] = "remote",
            ["Processor:MaxBatchMs"] = "5",
            ["Processor:LingerMs"] = "2",
            ["Processor:MaxBatchBytes"] = "65536",
            ["Filter:Params:order"] = "4",
        });

        Assert.Equal(("in", "out", "rls", FilterMode.Remote), (options.InputTopic, options.OutputTopic, options.Algorithm, options.Mode));
        Assert.Equal((5, 2, 65536), (options.MaxBatchMs, options.LingerMs, options.MaxBatchBytes));
        Assert.Equal(4, options.Params["order"]);
        Assert.True(new ProcessorOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void StateAndRecoverySettingsBindWithDocumentedDefaults()
    {
        var defaults = Bind([]);
        Assert.Equal((3600, 30, 1_000_000, 5, 120, 100, 10_000, 30), (defaults.StreamIdleSeconds, defaults.HeldChunkTimeoutSeconds, defaults.MaxStreams,
            defaults.MaxBatchAttempts, defaults.StuckPartitionSeconds, defaults.RetryBackoffMs, defaults.MaxRetryBackoffMs, defaults.RestoreStallSeconds));
        Assert.Equal(384L * 1024 * 1024, defaults.MaxStreamBytes);
        Assert.Equal(10_000, defaults.MaxStreamConfigs);
        Assert.Null(defaults.InstanceId);
        Assert.False(defaults.DevBrokerCompensation);

        var options = Bind(new()
        {
            ["Processor:StreamIdleSeconds"] = "600",
            ["Processor:MaxStreams"] = "5000",
            ["Processor:InstanceId"] = "filter-kafka-processor-7d9f-abcde",
            ["Processor:DevBrokerCompensation"] = "true",
        });
        Assert.Equal((600, 5000, "filter-kafka-processor-7d9f-abcde", true), (options.StreamIdleSeconds, options.MaxStreams, options.InstanceId, options.DevBrokerCompensation));
        Assert.True(new ProcessorOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void TopicsFilteringAndLimitsHaveTheDocumentedDefaults()
    {
        var defaults = Bind([]);

        Assert.Equal(("sample-input", "sample-output", "sample-dlq", "filter-kafka-processor-state-changelog", "stream-config"),
            (defaults.InputTopic, defaults.OutputTopic, defaults.DlqTopic, defaults.ChangelogTopic, defaults.StreamConfigTopic));
        Assert.Equal(("kalman", FilterMode.Local, "http://filter-gateway"), (defaults.Algorithm, defaults.Mode, defaults.GatewayUrl));
        Assert.Equal((2000, 2_097_152, 1, 32, 268_435_456L, 1_000_000, 10), (defaults.MaxBatchRecords, defaults.MaxBatchBytes, defaults.CodecThreads,
            defaults.MaxHeldChunks, defaults.MaxHeldBytes, defaults.MaxChunkSamples, defaults.RateLogSeconds));
        Assert.Equal((1024, 65_536), (defaults.MaxHttpConnections, defaults.MaxHttpReadAheadBytes));
        Assert.True(new ProcessorOptionsValidator().Validate(null, defaults).Succeeded);
    }

    [Fact]
    public void BatchingDefaultsToGroupCommit()
    {
        var options = Bind([]);

        Assert.Equal(0, options.LingerMs);
        Assert.Equal(20, options.MaxBatchMs);
    }

    [Theory]
    [InlineData("Processor:LingerMs", "-1", "Processor:LingerMs = -1 is out of range")]
    [InlineData("Processor:MaxBatchMs", "0", "Processor:MaxBatchMs = 0 is out of range")]
    [InlineData("Processor:MaxBatchBytes", "0", "Processor:MaxBatchBytes = 0 is out of range")]
    [InlineData("Processor:CodecThreads", "-1", "Processor:CodecThreads = -1 is out of range")]
    [InlineData("FILTER_ALGORITHM", "median", "FILTER_ALGORITHM")]
    [InlineData("Processor:StreamIdleSeconds", "-5", "Processor:StreamIdleSeconds = -5 is out of range")]
    [InlineData("Processor:HeldChunkTimeoutSeconds", "-1", "Processor:HeldChunkTimeoutSeconds = -1 is out of range")]
    [InlineData("Processor:MaxStreams", "0", "Processor:MaxStreams = 0 is out of range")]
    [InlineData("Processor:MaxBatchAttempts", "0", "Processor:MaxBatchAttempts = 0 is out of range")]
    [InlineData("Processor:StuckPartitionSeconds", "0", "Processor:StuckPartitionSeconds = 0 is out of range")]
    [InlineData("Processor:MaxRetryBackoffMs", "50", "Processor:MaxRetryBackoffMs = 50 is out of range [100,")]
    [InlineData("Processor:RestoreStallSeconds", "0", "Processor:RestoreStallSeconds = 0 is out of range")]
    [InlineData("Processor:MaxHttpConnections", "0", "Processor:MaxHttpConnections = 0 is out of range")]
    [InlineData("Processor:MaxHttpReadAheadBytes", "32768", "Processor:MaxHttpReadAheadBytes = 32768 is out of range")]
    [InlineData("Processor:MaxHttpReadAheadBytes", "67108865", "Processor:MaxHttpReadAheadBytes = 67108865 is out of range [49152, 67108864]")]
    [InlineData("Processor:MaxHttpConnections", "1000001", "Processor:MaxHttpConnections = 1000001 is out of range [1, 1000000]")]
    [InlineData("Processor:MaxHeldBytes", "1048575", "Processor:MaxHeldBytes = 1048575 is out of range [1048576, 1099511627776]")]
    [InlineData("Processor:MaxHeldBytes", "1099511627777", "Processor:MaxHeldBytes = 1099511627777 is out of range [1048576, 1099511627776]")]
    [InlineData("Processor:MaxStreamBytes", "1048575", "Processor:MaxStreamBytes = 1048575 is out of range [1048576, 1099511627776]")]
    [InlineData("Processor:MaxStreamConfigs", "0", "Processor:MaxStreamConfigs = 0 is out of range [1, 10000000]")]
    [InlineData("Processor:InstanceId", "pod/1", "Processor:InstanceId 'pod/1'")]
    [InlineData("OUTPUT_TOPIC", "sample-input", "INPUT_TOPIC and OUTPUT_TOPIC are both")]
    [InlineData("DLQ_TOPIC", "sample-input", "INPUT_TOPIC and DLQ_TOPIC are both 'sample-input'")] // before 2026-12-05 taken: dead letters read again as input
    [InlineData("CHANGELOG_TOPIC", "sample-output", "OUTPUT_TOPIC and CHANGELOG_TOPIC are both 'sample-output'")]
    [InlineData("STREAM_CONFIG_TOPIC", "filter-kafka-processor-state-changelog", "CHANGELOG_TOPIC and STREAM_CONFIG_TOPIC are both")]
    [InlineData("STREAM_CONFIG_TOPIC", "sample-dlq", "DLQ_TOPIC and STREAM_CONFIG_TOPIC are both")]
    [InlineData("INPUT_TOPIC", " ", "INPUT_TOPIC must not be empty")]
    [InlineData("OUTPUT_TOPIC", "", "OUTPUT_TOPIC must not be empty.")]
    [InlineData("DLQ_TOPIC", "", "DLQ_TOPIC must not be empty.")]
    [InlineData("CHANGELOG_TOPIC", "", "CHANGELOG_TOPIC must not be empty.")]
    [InlineData("STREAM_CONFIG_TOPIC", "", "STREAM_CONFIG_TOPIC must not be empty.")]
    [InlineData("Processor:MaxBatchRecords", "0", "Processor:MaxBatchRecords = 0 is out of range [1, 1000000].")]
    [InlineData("Processor:MaxBatchRecords", "1000001", "Processor:MaxBatchRecords = 1000001 is out of range [1, 1000000].")]
    [InlineData("Processor:MaxHeldChunks", "-1", "Processor:MaxHeldChunks = -1 is out of range [0, 100000].")]
    [InlineData("Processor:MaxChunkSamples", "0", "Processor:MaxChunkSamples = 0 is out of range [1, 100000000].")]
    [InlineData("Processor:RateLogSeconds", "-1", "Processor:RateLogSeconds = -1 is out of range [0, 3600].")]
    [InlineData("Processor:RateLogSeconds", "3601", "Processor:RateLogSeconds = 3601 is out of range [0, 3600].")]
    [InlineData("Processor:RetryBackoffMs", "0", "Processor:RetryBackoffMs = 0 is out of range [1, 60000].")]
    [InlineData("Processor:RetryBackoffMs", "60001", "Processor:RetryBackoffMs = 60001 is out of range [1, 60000].")]
    [InlineData("FILTER_MODE", "5", "FILTER_MODE '5' is not valid: use 'local' or 'remote'.")] // a number the binder takes for the enum, but no FilterMode
    [InlineData("Filter:Params:q", "NaN", "Filter:Params:q: Parameter 'q' must be a finite number > 0; got NaN")]
    [InlineData("Filter:Params:q", "loud", "Filter:Params:q = 'loud' is not a number.")]
    public void AnOutOfRangeSettingFailsValidationNamingIt(string key, string value, string expected)
    {
        var result = new ProcessorOptionsValidator().Validate(null, Bind(new() { [key] = value }));

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/gw")] // an absolute file:///gw to Uri on Linux: before 2026-12-04 taken, and every batch then failed
    [InlineData("ftp://filter-gateway/")]
    [InlineData("filter-gateway:8000")]
    public void InRemoteModeAGatewayUrlThatIsNoAbsoluteHttpUrlFailsValidationNamingIt(string url)
    {
        var result = new ProcessorOptionsValidator().Validate(null, Bind(new() { ["FILTER_MODE"] = "remote", ["FILTER_GATEWAY_URL"] = url }));

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains($"FILTER_GATEWAY_URL '{url}' is not an absolute http(s) URL", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Processor:LingerMs", "soon")]
    [InlineData("FILTER_MODE", "hybrid")]
    [InlineData("Processor:MaxStreams", "many")]
    [InlineData("Processor:DevBrokerCompensation", "sometimes")]
    public void AnUnreadableSettingIsRefusedWhenBoundNamingIt(string key, string value)
    {
        // The configuration binder refuses a value it cannot convert, with a message naming the key.
        var error = Assert.Throws<InvalidOperationException>(() => Bind(new() { [key] = value }));

        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AtStartABadSettingStopsTheProcessorWithEveryFailureNamed()
    {
        using var services = Services(new() { ["Processor:LingerMs"] = "-1", ["FILTER_ALGORITHM"] = "median" });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<ProcessorOptions>>().Value);

        Assert.Contains("Processor:LingerMs = -1 is out of range [0, 60000]", error.Message, StringComparison.Ordinal);
        Assert.Contains("FILTER_ALGORITHM: Unknown filter algorithm 'median'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Kafka:Producer:message.max.bytes", "100000")]
    [InlineData("Kafka:Client:message.max.bytes", "4096")]
    public void AMessageMaxBytesTooSmallForACheckpointStopsTheStartNamingIt(string key, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value, ["KAFKA_BROKERS"] = "localhost:9092" }).Build();
        var supplier = new global::FilterKafkaProcessor.Kafka.KafkaSupplier(new SignalPipeline.Kafka.KafkaClientFactory(
            configuration, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, SignalPipeline.Kafka.KafkaSettings.FromConfiguration(configuration)));

        var error = Assert.Throws<InvalidOperationException>(() => supplier.MaxMessageBytes);

        Assert.Contains("Kafka:Producer:message.max.bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains($"= {value} is out of range [131072, 1000000000]", error.Message, StringComparison.Ordinal);
        var unset = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["KAFKA_BROKERS"] = "localhost:9092" }).Build();
        Assert.Equal(1_000_000, new global::FilterKafkaProcessor.Kafka.KafkaSupplier(new SignalPipeline.Kafka.KafkaClientFactory(
            unset, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, SignalPipeline.Kafka.KafkaSettings.FromConfiguration(unset))).MaxMessageBytes);
    }

    // The processor's own registration (Program.cs): binding from the configuration root, validation at start.
    private static ProcessorOptions Bind(Dictionary<string, string?> settings)
    {
        // What the options factory does before it validates.
        using var services = Services(settings);
        var options = new ProcessorOptions();
        foreach (var configure in services.GetServices<IConfigureOptions<ProcessorOptions>>())
        {
            configure.Configure(options);
        }

        foreach (var postConfigure in services.GetServices<IPostConfigureOptions<ProcessorOptions>>())
        {
            postConfigure.PostConfigure(Options.DefaultName, options);
        }

        return options;
    }

    private static ServiceProvider Services(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddProcessorOptions(configuration);
        return services.BuildServiceProvider();
    }
}
