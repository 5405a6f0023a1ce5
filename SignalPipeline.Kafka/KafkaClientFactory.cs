using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace SignalPipeline.Kafka;

/// <summary>
/// The one place Kafka clients are built: bootstrap servers from the Aspire connection string or
/// <c>KAFKA_BROKERS</c>, the factory's defaults (<see cref="ApplyConsumerDefaults"/>), then librdkafka settings from the
/// <c>Kafka:Client</c> section (every client kind: security lives here), then the <c>Kafka:Producer</c> /
/// <c>Kafka:Consumer</c> sections, then the caller's own; <c>client.id</c> is the service's name unless a section sets it
/// (<see cref="KafkaSettings.ClientId"/>). Every client logs through
/// <see cref="ILogger"/> (each error once, repeats summarised by <see cref="KafkaLogThrottle"/>) and reports its
/// statistics to <see cref="KafkaMetrics"/>. Disposing it says the repeats its clients' logs have not summarised yet.
/// </summary>
public sealed class KafkaClientFactory : IDisposable
{
    private readonly IConfiguration _configuration;
    private readonly KafkaSettings _settings;
    private readonly KafkaMetrics _metrics;
    private readonly ILogger _librdkafka;
    private readonly KafkaLogThrottle _throttle;
    private readonly ILogger _warnings;
    private bool _groupIdWarned;

    public KafkaClientFactory(IConfiguration configuration, ILoggerFactory loggerFactory, KafkaSettings settings, KafkaMetrics metrics)
    {
        _configuration = configuration;
        _settings = settings;
        _metrics = metrics;
        _librdkafka = loggerFactory.CreateLogger("Confluent.Kafka");
        _throttle = new KafkaLogThrottle(_librdkafka);
        _warnings = loggerFactory.CreateLogger<KafkaClientFactory>();
    }

    /// <summary>For use without dependency injection: statistics go to a <see cref="KafkaMetrics"/> of its own.</summary>
    public KafkaClientFactory(IConfiguration configuration, ILoggerFactory loggerFactory, KafkaSettings settings)
        : this(configuration, loggerFactory, settings, new KafkaMetrics(logger: loggerFactory.CreateLogger<KafkaMetrics>()))
    {
    }

    public KafkaSettings Settings => _settings;

    public KafkaMetrics Metrics => _metrics;

    /// <summary>
    /// Producer settings: bootstrap servers, then the <c>Kafka:Client</c> and <c>Kafka:Producer</c> sections, then
    /// <paramref name="configure"/>.
    /// </summary>
    public ProducerConfig CreateProducerConfig(Action<ProducerConfig>? configure = null)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = _settings.BootstrapServers,
            ClientId = _settings.ClientId,
            StatisticsIntervalMs = _settings.StatisticsIntervalMs,
        };
        Bind(config, KafkaSettings.ClientSection);
        Bind(config, KafkaSettings.ProducerSection);
        configure?.Invoke(config);
        return config;
    }

    /// <summary>
    /// Consumer settings: bootstrap servers and group, the factory's defaults, then the <c>Kafka:Client</c> and
    /// <c>Kafka:Consumer</c> sections, then <paramref name="configure"/>.
    /// </summary>
    public ConsumerConfig CreateConsumerConfig(string groupId, Action<ConsumerConfig>? configure = null)
        => ConsumerConfigFor(groupId, configure, warn: true);

    private ConsumerConfig ConsumerConfigFor(string groupId, Action<ConsumerConfig>? configure, bool warn)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = _settings.BootstrapServers,
            ClientId = _settings.ClientId,
            StatisticsIntervalMs = _settings.StatisticsIntervalMs,
        };
        ApplyConsumerDefaults(config);
        Bind(config, KafkaSettings.ClientSection);
        Bind(config, KafkaSettings.ConsumerSection);

        // The group is the caller's: each consumer's is chosen for what it does (the processor's group and its readers',
        // a bridge replica's throw-away one, the CLI's --group). A group.id in the sections would make them all one group,
        // so it is ignored, and named once per service, as Kafka Streams does with a user's group.id ("Unexpected
        // user-specified consumer config: group.id, as the application.id is used instead"). Until 2026-12-05 it won.
        if (warn && config.GroupId is { } ignored && !_groupIdWarned)
        {
            _groupIdWarned = true;
            var setting = _configuration[$"{KafkaSettings.ConsumerSection}:group.id"] is not null ? KafkaSettings.ConsumerSection : KafkaSettings.ClientSection;
            _warnings.LogWarning("{Setting}:group.id = '{Value}' is ignored: each of this service's consumers reads under the group the service gives it (this one {GroupId})",
                setting, ignored, groupId);
        }

        config.GroupId = groupId;
        configure?.Invoke(config);
        return config;
    }

    /// <summary>
    /// Defaults that keep a pipeline responsive on the dev broker (librdkafka's mock cluster holds an empty fetch for
    /// the whole <c>fetch.wait.max.ms</c> and delays a rebalance by <c>session.timeout.ms</c>) and are fine on a real
    /// cluster; the <c>Kafka:Consumer</c> section overrides them.
    /// </summary>
    public static void ApplyConsumerDefaults(ConsumerConfig config)
    {
        // Every hop of the pipeline waits on average half of this on the dev broker (measured, local kalman at
        // 1M samples/s: p99 20 ms with 10, 16 ms with 5, 14 ms with 2; throughput unchanged). On a real broker it only
        // bounds how often an idle consumer asks (200 fetches/s at 5 ms).
        config.FetchWaitMaxMs = 5;
        config.SessionTimeoutMs = 6000;
        config.HeartbeatIntervalMs = 2000;
    }

    /// <summary>A producer configured by <see cref="CreateProducerConfig"/>.</summary>
    /// <param name="configure">Settings of this producer's own, applied last.</param>
    /// <param name="build">Last changes to the builder; the factory already sets the log, error and statistics handlers.</param>
    public IProducer<TKey, TValue> CreateProducer<TKey, TValue>(Action<ProducerConfig>? configure = null, Action<ProducerBuilder<TKey, TValue>>? build = null)
    {
        var config = CreateProducerConfig(configure);
        var builder = new ProducerBuilder<TKey, TValue>(config)
            .SetLogHandler((_, message) => Log(message))
            .SetErrorHandler((client, error) => LogError(client, error));
        if (config.StatisticsIntervalMs is > 0 and var interval)
        {
            builder.SetStatisticsHandler((_, json) => RecordStatistics(json, groupId: null, interval));
        }

        build?.Invoke(builder);
        return builder.Build();
    }

    /// <summary>A consumer configured by <see cref="CreateConsumerConfig"/>.</summary>
    /// <param name="groupId">The consumer group.</param>
    /// <param name="configure">Settings of this consumer's own, applied last.</param>
    /// <param name="build">Last changes to the builder (e.g. rebalance handlers); the factory already sets the log, error and statistics handlers.</param>
    /// <param name="onError">
    /// Also told each error the consumer reports (after the factory logs it), on the thread that calls Consume: a
    /// builder takes one error handler, and the factory's is set.
    /// </param>
    public IConsumer<TKey, TValue> CreateConsumer<TKey, TValue>(string groupId, Action<ConsumerConfig>? configure = null, Action<ConsumerBuilder<TKey, TValue>>? build = null, Action<Error>? onError = null)
    {
        var config = CreateConsumerConfig(groupId, configure);
        var builder = new ConsumerBuilder<TKey, TValue>(config)
            .SetLogHandler((_, message) => Log(message))
            .SetErrorHandler((client, error) =>
            {
                LogError(client, error);
                onError?.Invoke(error);
            });
        if (config.StatisticsIntervalMs is > 0 and var interval)
        {
            builder.SetStatisticsHandler((_, json) => RecordStatistics(json, config.GroupId, interval));
        }

        build?.Invoke(builder);
        return builder.Build();
    }

    /// <summary>
    /// Builds a producer and a consumer from the configured settings and disposes them at once. librdkafka refuses an
    /// unknown property or a bad value only when a client is built, which in a service happens on a background thread
    /// after the host has started (it then stopped with "A task was canceled" and .NET's abort); checked at start with the
    /// other settings (<see cref="KafkaClientSettingsCheck"/>), a refusal is one line naming the setting
    /// (<see cref="KafkaSettingRefusal"/>), returned here; null when librdkafka takes them. Nothing is sent: no topic is
    /// named and no group is joined. Any other failure to build a client is thrown.
    /// </summary>
    public string? RefusedSetting()
    {
        try
        {
            using (new ProducerBuilder<byte[], byte[]>(CreateProducerConfig()).SetLogHandler(static (_, _) => { }).Build())
            {
            }

            using (new ConsumerBuilder<byte[], byte[]>(ConsumerConfigFor("signalpipeline-settings-check", configure: null, warn: false)).SetLogHandler(static (_, _) => { }).Build())
            {
            }
        }
        catch (Exception e) when (KafkaSettingRefusal.Describe(e, _configuration) is { } refused)
        {
            return refused;
        }

        return null;
    }

    /// <summary>Admin client settings: bootstrap servers, then the <c>Kafka:Client</c> section, then <paramref name="configure"/>.</summary>
    public AdminClientConfig CreateAdminClientConfig(Action<AdminClientConfig>? configure = null)
    {
        var config = new AdminClientConfig { BootstrapServers = _settings.BootstrapServers, ClientId = _settings.ClientId };
        Bind(config, KafkaSettings.ClientSection);
        configure?.Invoke(config);
        return config;
    }

    /// <summary>
    /// An admin client (metadata, offsets, topics; the health check's) configured by <see cref="CreateAdminClientConfig"/>;
    /// the mock dev broker cannot create topics through it.
    /// </summary>
    public IAdminClient CreateAdminClient(Action<AdminClientConfig>? configure = null)
    {
        var config = CreateAdminClientConfig(configure);
        return new AdminClientBuilder(config)
            .SetLogHandler((_, message) => Log(message))
            .SetErrorHandler((client, error) => LogError(client, error))
            .Build();
    }

    // Runs on librdkafka's thread (inside Consume/Poll): only enqueue, KafkaMetrics parses in the background.
    private void RecordStatistics(string json, string? groupId, int? intervalMs)
        => _metrics.Post(json, groupId, TimeSpan.FromMilliseconds(intervalMs ?? KafkaSettings.DefaultStatisticsIntervalMs));

    private void Bind(ClientConfig config, string section) => KafkaClientProperties.Apply(config, _configuration, section);

    private void Log(LogMessage message)
    {
        // librdkafka sends a broker failure both here (facility FAIL) and to the error handler, with the same text
        // (rd_kafka_broker_set_error); the error handler's has the code, so that one is logged. A consumer's errors
        // reach its error handler when it polls (Consume). FAIL's debug line (debug=broker) is not sent twice.
        if (message.Facility == "FAIL" && message.Level != SyslogLevel.Debug)
        {
            return;
        }

        var level = message.Level switch
        {
            SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
            SyslogLevel.Error => LogLevel.Error,
            SyslogLevel.Warning => LogLevel.Warning,
            SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
            _ => LogLevel.Debug,
        };
        // Debug lines are asked for (librdkafka's debug setting) and critical ones are rare: both go out as they come.
        if (level is LogLevel.Debug or LogLevel.Critical)
        {
            _librdkafka.Log(level, "[{Client}] {Facility}: {Message}", message.Name, message.Facility, message.Message);
            return;
        }

        _throttle.Log(level, message.Name, $"{message.Facility}: {KafkaLogThrottle.EventOf(message.Message)}", $"{message.Facility}: {message.Message}");
    }

    private void LogError(IClient client, Error error)
    {
        if (error.IsFatal)
        {
            _librdkafka.LogCritical("[{Client}] Kafka error {Code}: {Reason}", client.Name, error.Code, error.Reason);
            return;
        }

        _throttle.Log(LogLevel.Warning, client.Name, $"{error.Code}: {KafkaLogThrottle.EventOf(error.Reason)}", $"Kafka error {error.Code}: {error.Reason}");
    }

    public void Dispose() => _throttle.Dispose();
}
