using System.CommandLine;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SignalPipeline.Cli.Operations;
using SignalPipeline.Cli.Topics;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Kafka;

/// <summary>
/// <c>signal-pipeline kafka topics ensure|check</c>: the pipeline's topics (<see cref="PipelineTopics"/>) on any cluster
/// the services' Kafka settings reach: <c>KAFKA_BROKERS</c> or <c>ConnectionStrings__kafka</c>, <c>Kafka__Client__*</c>
/// (security), <c>INPUT_TOPIC</c>/<c>OUTPUT_TOPIC</c>/<c>DLQ_TOPIC</c>/<c>CHANGELOG_TOPIC</c> (names).
/// </summary>
public static class TopicsCommand
{
    public const int DefaultPartitions = 20;

    public static Command Create()
    {
        // --bootstrap/-b as in every other Kafka verb (docs/operations.md); --brokers is this verb's older name, kept.
        var brokers = new Option<string?>("--bootstrap", "-b", "--brokers")
        {
            Description = "Kafka bootstrap servers, host:port[,host:port] (default: ConnectionStrings__kafka, else KAFKA_BROKERS).",
        };
        var partitions = new Option<int>("--partitions")
        {
            Description = "Partitions of a topic to create, and the fewest the input may have (at least the processor's most replicas; 20 in deploy/k8s).",
            DefaultValueFactory = _ => DefaultPartitions,
        };
        var replicas = new Option<short?>("--replication-factor") { Description = "Replicas of a topic to create (default: 3, or the broker count if fewer)." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the cluster's answers.", DefaultValueFactory = _ => 30 };

        var ensure = new Command("ensure", "Create the pipeline's missing topics; refuse, creating nothing, if an existing one is wrong.") { brokers, partitions, replicas, timeout };
        // VerbAction as every verb: ended within about 2 s of Ctrl+C or SIGTERM (docs/operations.md), whatever Kafka does.
        VerbAction.Set(ensure, (parse, output, _) => RunAsync(Configuration(parse.GetValue(brokers)), create: true,
            parse.GetValue(partitions), parse.GetValue(replicas), TimeSpan.FromSeconds(parse.GetValue(timeout)), output.Out, output.Error));

        var check = new Command("check", "Verify the pipeline's topics (exist, partitions, changelog compacted and co-partitioned); exit 1 if not.") { brokers, partitions, timeout };
        VerbAction.Set(check, (parse, output, _) => RunAsync(Configuration(parse.GetValue(brokers)), create: false,
            parse.GetValue(partitions), null, TimeSpan.FromSeconds(parse.GetValue(timeout)), output.Out, output.Error));

        return new Command("topics", "The pipeline's topics: ensure (create what is missing) or check.") { ensure, check };
    }

    /// <summary>Runs <c>ensure</c> (<paramref name="create"/>) or <c>check</c>; returns the exit code (0 fine, 1 wrong topics or no answer, 2 bad settings).</summary>
    public static async Task<int> RunAsync(
        IConfiguration configuration, bool create, int partitions, short? replicationFactor, TimeSpan timeout, TextWriter output, TextWriter error)
    {
        if (partitions < 1)
        {
            await error.WriteLineAsync($"error: --partitions must be 1 or more, not {partitions}.");
            return 2;
        }

        // librdkafka's socket.timeout.ms takes 10..300000 ms.
        if (timeout < TimeSpan.FromSeconds(1) || timeout > TimeSpan.FromSeconds(300))
        {
            await error.WriteLineAsync($"error: --timeout must be 1 to 300 seconds, not {timeout.TotalSeconds}.");
            return 2;
        }

        if (replicationFactor < 1)
        {
            await error.WriteLineAsync($"error: --replication-factor must be 1 or more, not {replicationFactor}.");
            return 2;
        }

        KafkaClientFactory factory;
        try
        {
            factory = new KafkaClientFactory(configuration, NullLoggerFactory.Instance, KafkaConnection.Named(KafkaSettings.FromConfiguration(configuration)));
        }
        catch (InvalidOperationException ex)
        {
            // KafkaSettings names the environment's settings; this verb also takes the address as an option.
            var noCluster = string.IsNullOrWhiteSpace(configuration.GetConnectionString(KafkaSettings.DefaultConnectionName))
                && string.IsNullOrWhiteSpace(configuration[KafkaSettings.BrokersVariable]);
            var orOption = noCluster ? " Or pass --bootstrap host:port." : string.Empty;
            await error.WriteLineAsync($"error: {ex.Message}{orOption}");
            return 2;
        }

        var required = PipelineTopics.All.Select(t => new TopicRequirement(t, t.NameIn(configuration))).ToList();
        var servers = factory.Settings.BootstrapServers;
        try
        {
            using var admin = factory.CreateAdminClient(c => c.SocketTimeoutMs = (int)timeout.TotalMilliseconds);
            var observed = await TopicCheck.ObserveAsync(admin, required.Select(r => r.Name), required.Where(TopicCheck.Described).Select(r => r.Name), timeout);
            if (!create)
            {
                var problems = TopicCheck.Evaluate(required, observed, partitions);
                await WriteTableAsync(output, required, observed, []);
                if (problems.Count > 0)
                {
                    await error.WriteLineAsync($"error: {TopicCheck.Describe(problems, servers)}");
                    return 1;
                }

                return 0;
            }

            var brokerCount = admin.GetMetadata(timeout).Brokers.Count;
            var plan = TopicsPlan.For(required, observed, partitions, replicationFactor ?? (short)Math.Clamp(brokerCount, 1, 3));
            if (plan.Problems.Count > 0)
            {
                await error.WriteLineAsync(
                    $"error: Kafka at {servers}: nothing created, because these existing topics are wrong: " +
                    $"{string.Join("; ", plan.Problems.Select(p => p.Message))}. {TopicCheck.HowToFix(plan.Problems, servers)}");
                return 1;
            }

            try
            {
                await CreateAsync(admin, plan.Create, timeout);
            }
            catch (KafkaException ex)
            {
                // The cluster answered the metadata above; only the creation failed. "did not answer" (the catch below)
                // would send the user to check an address that works: say what it has, and why nothing was created.
                // A cluster that refuses some topics still creates the others (CreateTopicsException names each).
                var created = ex is CreateTopicsException some
                    ? [.. plan.Create.Where(c => some.Results.Any(r => r.Topic == c.Topic.Name && !r.Error.IsError))]
                    : new List<TopicCreation>();
                await WriteTableAsync(output, required, observed, created);
                await error.WriteLineAsync($"error: {NotCreated(ex, [.. plan.Create.Except(created)], servers)}");
                return 1;
            }

            await WriteTableAsync(output, required, observed, plan.Create);
            return 0;
        }
        catch (Exception ex) when (KafkaSettingRefusal.Describe(ex, configuration) is { } refused)
        {
            await error.WriteLineAsync($"error: {refused}");
            return 2;
        }
        catch (KafkaException ex)
        {
            // Not always silence: a topic the cluster lists with an error, or a refused creation, is named as such.
            await error.WriteLineAsync($"error: {KafkaConnection.DescribeError(ex.Error, servers)}");
            return 1;
        }
    }

    private static async Task WriteTableAsync(
        TextWriter output, IReadOnlyList<TopicRequirement> required, IReadOnlyDictionary<string, ObservedTopic> observed, IReadOnlyList<TopicCreation> created)
    {
        foreach (var topic in required)
        {
            var state = created.FirstOrDefault(c => c.Topic == topic) is { } c
                ? $"created, {Counted.Of(c.Partitions, "partition")}, {Counted.Of(c.ReplicationFactor, "replica")}"
                : observed.TryGetValue(topic.Name, out var o) ? $"exists, {Counted.Of(o.Partitions, "partition")}" : "missing";
            await output.WriteLineAsync($"{topic.Name}\t{topic.Definition.Setting}\t{state}");
        }
    }

    private static async Task CreateAsync(IAdminClient admin, IReadOnlyList<TopicCreation> topics, TimeSpan timeout)
    {
        if (topics.Count == 0)
        {
            return;
        }

        try
        {
            await admin.CreateTopicsAsync(
                topics.Select(t => new TopicSpecification
                {
                    Name = t.Topic.Name,
                    NumPartitions = t.Partitions,
                    ReplicationFactor = t.ReplicationFactor,
                    Configs = t.Topic.Definition.Configs.ToDictionary(c => c.Key, c => c.Value),
                }),
                new CreateTopicsOptions { RequestTimeout = timeout, OperationTimeout = timeout });
        }
        catch (CreateTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Someone created one at the same moment (two ensures racing): what exists was checked on the next run.
        }
    }

    /// <summary>
    /// Why <paramref name="topics"/> were not created, on a cluster that answered its metadata: each topic's refusal
    /// (a policy, an ACL), or the admin client's own error. The dev broker (librdkafka's mock cluster) has no CreateTopics:
    /// the client says so at once (Local_UnsupportedFeature, "Topic Admin API (KIP-4) not supported by broker"). A cluster
    /// whose controller does not answer (or librdkafka's client-side mock, <c>test.mock.num.brokers</c>, which names
    /// controller 0, a broker it does not have) fails after --timeout with "Failed while waiting for controller".
    /// </summary>
    internal static string NotCreated(KafkaException ex, IReadOnlyList<TopicCreation> topics, string servers)
    {
        var names = string.Join(", ", topics.Select(t => $"'{t.Topic.Name}'"));
        var why = ex is CreateTopicsException refused
            ? string.Join("; ", refused.Results.Where(r => r.Error.IsError).Select(r => $"'{r.Topic}': {r.Error.Reason} ({r.Error.Code})"))
            : $"{ex.Error.Reason} ({ex.Error.Code})";
        var hint = ex.Error.Code switch
        {
            ErrorCode.Local_UnsupportedFeature =>
                " The dev broker (librdkafka's mock cluster, docs/kafka.md) creates no topic on request: it creates the " +
                "topics in DevBroker:Topics at its start, so add these there and restart it.",
            ErrorCode.Local_TimedOut =>
                " Topics are created by the cluster's controller, and none answered within --timeout: check that its " +
                "controller is up, or raise --timeout.",
            _ => string.Empty,
        };
        return $"Kafka at {servers} answered but did not create {names}: {why}.{hint}";
    }

    private static IConfiguration Configuration(string? brokers)
    {
        var builder = new ConfigurationBuilder().AddEnvironmentVariables();
        if (!string.IsNullOrWhiteSpace(brokers))
        {
            // --bootstrap wins over both ways the environment can name the cluster.
            builder.AddInMemoryCollection(new Dictionary<string, string?>
            {
                [KafkaSettings.BrokersVariable] = brokers,
                [$"ConnectionStrings:{KafkaSettings.DefaultConnectionName}"] = brokers,
            });
        }

        return builder.Build();
    }
}
