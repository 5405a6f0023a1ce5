using Confluent.Kafka;
using Microsoft.Extensions.Configuration;

namespace SignalPipeline.Kafka;

/// <summary>
/// librdkafka properties from a configuration section, set on a client config key by key (<c>Kafka:Client:security.protocol</c>
/// becomes <c>security.protocol</c>). <see cref="KafkaClientFactory"/> uses it for every client it builds; code that
/// builds its own clients (the bench) uses it so the cluster's security settings reach those clients too.
/// </summary>
public static class KafkaClientProperties
{
    /// <summary>
    /// Sets every value of <paramref name="section"/> on <paramref name="config"/>; returns it. <c>group.id</c> is set on
    /// consumers only: a producer or admin client has no group, and librdkafka warns for each one given it ("group.id is a
    /// consumer property and will be ignored"), so a <c>group.id</c> in <c>Kafka:Client</c> (ignored anyway, with one
    /// warning per service: docs/kafka.md, "Client setup") would add a warning per client.
    /// </summary>
    public static T Apply<T>(T config, IConfiguration configuration, string section = KafkaSettings.ClientSection)
        where T : ClientConfig
    {
        foreach (var (key, value) in configuration.GetSection(section).AsEnumerable(makePathsRelative: true))
        {
            if (value is not null && (config is ConsumerConfig || key != "group.id"))
            {
                config.Set(key, value);
            }
        }

        return config;
    }

    /// <summary>
    /// <see cref="Apply{T}"/> from environment variables (<c>Kafka__Client__security.protocol=SASL_SSL</c>), for tools that
    /// have no host configuration.
    /// </summary>
    public static T ApplyFromEnvironment<T>(T config)
        where T : ClientConfig
        => Apply(config, new ConfigurationBuilder().AddEnvironmentVariables().Build());
}
