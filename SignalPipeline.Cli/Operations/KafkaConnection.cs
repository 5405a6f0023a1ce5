using System.CommandLine;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// The operations verbs' way to Kafka: the project's one client setup (<see cref="KafkaClientFactory"/>), configured
/// from the environment the way a service is (<c>KAFKA_BROKERS</c>, <c>Kafka__Producer__*</c>, <c>Kafka__Consumer__*</c>
/// and whatever security settings the factory reads), with <c>--bootstrap</c> winning over <c>KAFKA_BROKERS</c>.
/// </summary>
public static class KafkaConnection
{
    /// <summary>
    /// The <c>client.id</c> of the verbs' clients unless <c>OTEL_SERVICE_NAME</c> (or <c>Kafka__Client__client.id</c>)
    /// names them otherwise: librdkafka's default, <c>rdkafka</c>, does not say whose a client is in a log line or among a
    /// group's members on the brokers.
    /// </summary>
    public const string ClientId = "signal-pipeline";

    /// <summary>
    /// The <c>client.id</c> of the bench's own load, watch and copy clients (its processors are services, named as such);
    /// they are built through <see cref="CreateFactory"/>, so <c>Kafka__Client__client.id</c> or <c>OTEL_SERVICE_NAME</c>
    /// overrides it, as for the verbs' clients.
    /// </summary>
    public const string BenchClientId = "signal-pipeline-bench";

    /// <summary><paramref name="settings"/> with <paramref name="clientId"/> when they name no client (no <c>OTEL_SERVICE_NAME</c>).</summary>
    public static KafkaSettings Named(KafkaSettings settings, string clientId = ClientId)
        => settings.ClientId is null ? settings with { ClientId = clientId } : settings;

    /// <summary>A fresh <c>--bootstrap</c> option (each command owns its option instances).</summary>
    public static Option<string?> BootstrapOption() => new("--bootstrap", "-b")
    {
        Description = $"Kafka bootstrap servers, host:port[,host:port] (default: ConnectionStrings__kafka, else {KafkaSettings.BrokersVariable}).",
    };

    /// <summary>The topic named by <paramref name="setting"/> in the environment (e.g. <c>INPUT_TOPIC</c>), else its default.</summary>
    public static string TopicFromEnvironment(TopicDefinition topic)
        => Environment.GetEnvironmentVariable(topic.Setting) is { Length: > 0 } name ? name : topic.Name;

    /// <summary>
    /// A client factory for <paramref name="bootstrap"/> (or the environment's); statistics off, librdkafka warnings to
    /// stderr, clients named <paramref name="clientId"/> unless the environment names them (<see cref="Named"/>).
    /// </summary>
    public static KafkaClientFactory CreateFactory(string? bootstrap, TextWriter error, string clientId = ClientId)
    {
        var builder = new ConfigurationBuilder().AddEnvironmentVariables();
        var overrides = new Dictionary<string, string?> { [KafkaSettings.StatisticsIntervalSetting] = "0" };
        if (!string.IsNullOrWhiteSpace(bootstrap))
        {
            overrides[KafkaSettings.BrokersVariable] = bootstrap;
        }

        var configuration = builder.AddInMemoryCollection(overrides).Build();
        KafkaSettings settings;
        try
        {
            settings = Named(KafkaSettings.FromConfiguration(configuration), clientId);
        }
        catch (InvalidOperationException ex)
        {
            throw new UsageException($"{ex.Message} Or pass --bootstrap host:port.");
        }

        if (!string.IsNullOrWhiteSpace(bootstrap))
        {
            // --bootstrap also wins over a ConnectionStrings__kafka inherited from an AppHost environment.
            settings = settings with { BootstrapServers = bootstrap.Trim() };
        }

        return new KafkaClientFactory(configuration, new StderrLoggerFactory(error), settings);
    }

    /// <summary>The settings the verbs read, as a service reads them: the environment.</summary>
    public static IConfiguration EnvironmentConfiguration() => new ConfigurationBuilder().AddEnvironmentVariables().Build();

    /// <summary>
    /// How a verb is given its cluster, to name in an error's hint: <c>--bootstrap</c>, bench's <c>--brokers</c>, or the
    /// pass-through copy's argument <c>BROKERS</c>.
    /// </summary>
    public static string ClusterOption(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        return ClusterOptionOf(command)?.Name
               ?? (ClusterArgumentOf(command) is { } argument ? argument.Name.ToUpperInvariant() : "--bootstrap");
    }

    private static Option<string?>? ClusterOptionOf(Command command)
        => command.Options.OfType<Option<string?>>().FirstOrDefault(o => o.Name is "--bootstrap" or "--brokers");

    private static Argument<string>? ClusterArgumentOf(Command command)
        => command.Arguments.OfType<Argument<string>>().FirstOrDefault(a => a.Name == "brokers");

    /// <summary>The cluster a verb's clients were built for (its <c>--bootstrap</c>, else the environment's), to name in an error; null when none is set.</summary>
    public static string? BootstrapServers(ParseResult parse)
    {
        // bench names its cluster --brokers, its pass-through copy takes it as the argument BROKERS.
        var command = parse.CommandResult.Command;
        var given = ClusterOptionOf(command) is { } option
            ? parse.GetValue(option)
            : ClusterArgumentOf(command) is { } argument ? parse.GetValue(argument) : null;
        if (!string.IsNullOrWhiteSpace(given))
        {
            return given.Trim();
        }

        try
        {
            return KafkaSettings.FromConfiguration(EnvironmentConfiguration()).BootstrapServers;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// A Kafka error as one line naming the cluster; when the cluster did not answer (nothing listening, a wrong address,
    /// TLS or SASL refused) it also says which settings choose and reach it, and when it refused an operation to the
    /// principal's ACLs, where the ACLs each verb needs are listed.
    /// </summary>
    /// <paramref name="option"/> is how the verb is given its cluster (<see cref="ClusterOption"/>).
    public static string DescribeError(Error error, string? servers, string option = "--bootstrap")
    {
        var at = servers is null ? "Kafka" : $"Kafka at {servers}";
        // Only the --bootstrap verbs read ConnectionStrings__kafka (the services' way); bench and its copy never do.
        var connectionString = option == "--bootstrap" ? " (ConnectionStrings__kafka wins over it)" : "";
        return error.Code is ErrorCode.Local_Transport or ErrorCode.Local_AllBrokersDown or ErrorCode.Local_TimedOut or ErrorCode.Local_Resolve
            or ErrorCode.Local_Authentication or ErrorCode.Local_Ssl or ErrorCode.SaslAuthenticationFailed
            ? $"{at} did not answer: {error.Reason} ({error.Code}). Check {option} or KAFKA_BROKERS{connectionString} and the Kafka__Client__* security settings."
            : KafkaAccess.IsRefusal(error.Code)
                ? $"{at} refused access: {error.Reason} ({error.Code}). The principal the Kafka__Client__* settings authenticate as lacks an ACL this command needs "
                    + "(docs/kafka.md, \"ACLs\", lists each command's)."
                : $"{at}: {error.Reason} ({error.Code})";
    }

    /// <summary>
    /// The topic's partitions from the cluster's metadata; a missing topic is bad input, and stays missing
    /// (<see cref="TopicLookup"/>: a metadata request naming it would create it on most brokers).
    /// </summary>
    public static List<TopicPartition> TopicPartitions(KafkaClientFactory factory, string topic, TimeSpan timeout)
    {
        using var admin = factory.CreateAdminClient();
        var metadata = admin.FindTopic(topic, timeout);
        if (metadata is null || metadata.Partitions.Count == 0)
        {
            throw new UsageException(TopicsMissing([topic], factory.Settings.BootstrapServers));
        }

        return [.. metadata.Partitions.Select(p => new TopicPartition(topic, p.PartitionId)).OrderBy(p => p.Partition.Value)];
    }

    /// <summary>
    /// The one phrase for topics a cluster does not have, whichever verb looked them up (docs/operations.md quotes it):
    /// <c>topic 'a' does not exist on host:9092.</c>, <c>topics 'a', 'b' do not exist on host:9092.</c>
    /// </summary>
    public static string TopicsMissing(IReadOnlyCollection<string> topics, string servers)
    {
        var named = string.Join(", ", topics.Select(t => $"'{t}'"));
        return topics.Count == 1 ? $"topic {named} does not exist on {servers.Trim()}." : $"topics {named} do not exist on {servers.Trim()}.";
    }

    /// <summary>librdkafka's warnings and errors as plain lines on stderr; a CLI has no logging pipeline.</summary>
    private sealed class StderrLoggerFactory(TextWriter error) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new StderrLogger(error);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }
    }

    private sealed class StderrLogger(TextWriter error) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => NullLogger.Instance.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lock (error)
                {
                    error.WriteLine($"kafka {logLevel.ToString().ToLowerInvariant()}: {formatter(state, exception)}");
                }
            }
        }
    }
}
