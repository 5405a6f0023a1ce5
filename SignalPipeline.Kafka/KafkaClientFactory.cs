using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace SignalPipeline.Kafka;

/// <summary>
/// The one place Kafka clients are built: bootstrap servers from the Aspire connection string or
/// <c>KAFKA_BROKERS</c>, librdkafka settings from the <c>Kafka:Producer</c> / <c>Kafka:Consumer</c>
/// configuration sections, librdkafka logs routed to <see cref="ILogger"/>.
/// </summary>
public sealed class KafkaClientFactory(IConfiguration configuration, ILoggerFactory loggerFactory, KafkaSettings settings)
{
    private readonly ILogger _librdkafka = loggerFactory.CreateLogger("Confluent.Kafka");

    public KafkaSettings Settings => settings;

    /// <summary>Producer settings: bootstrap servers, then the <c>Kafka:Producer</c> section, then <paramref name="configure"/>.</summary>
    public ProducerConfig CreateProducerConfig(Action<ProducerConfig>? configure = null)
    {
        var config = new ProducerConfig { BootstrapServers = settings.BootstrapServers };
        Bind(config, KafkaSettings.ProducerSection);
        configure?.Invoke(config);
        return config;
    }

    /// <summary>Consumer settings: bootstrap servers and group, then the <c>Kafka:Consumer</c> section, then <paramref name="configure"/>.</summary>
    public ConsumerConfig CreateConsumerConfig(string groupId, Action<ConsumerConfig>? configure = null)
    {
        var config = new ConsumerConfig { BootstrapServers = settings.BootstrapServers, GroupId = groupId };
        Bind(config, KafkaSettings.ConsumerSection);
        configure?.Invoke(config);
        return config;
    }

    public IProducer<TKey, TValue> CreateProducer<TKey, TValue>(Action<ProducerConfig>? configure = null)
        => new ProducerBuilder<TKey, TValue>(CreateProducerConfig(configure))
            .SetLogHandler((_, message) => Log(message))
            .SetErrorHandler((_, error) => LogError(error))
            .Build();

    public IConsumer<TKey, TValue> CreateConsumer<TKey, TValue>(string groupId, Action<ConsumerConfig>? configure = null, Action<ConsumerBuilder<TKey, TValue>>? build = null)
    {
        var builder = new ConsumerBuilder<TKey, TValue>(CreateConsumerConfig(groupId, configure))
            .SetLogHandler((_, message) => Log(message))
            .SetErrorHandler((_, error) => LogError(error));
        build?.Invoke(builder);
        return builder.Build();
    }

    private void Bind(ClientConfig config, string section)
    {
        foreach (var (key, value) in configuration.GetSection(section).AsEnumerable(makePathsRelative: true))
        {
            if (value is not null)
            {
                config.Set(key, value);
            }
        }
    }

    private void Log(LogMessage message)
    {
        var level = message.Level switch
        {
            SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
            SyslogLevel.Error => LogLevel.Error,
            SyslogLevel.Warning => LogLevel.Warning,
            SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
            _ => LogLevel.Debug,
        };
        _librdkafka.Log(level, "[{Client}] {Facility}: {Message}", message.Name, message.Facility, message.Message);
    }

    private void LogError(Error error)
        => _librdkafka.Log(error.IsFatal ? LogLevel.Critical : LogLevel.Warning, "Kafka error {Code}: {Reason}", error.Code, error.Reason);
}
