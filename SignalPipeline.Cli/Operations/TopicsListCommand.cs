using System.CommandLine;
using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace SignalPipeline.Cli.Operations;

/// <summary><c>signal-pipeline kafka topics list</c>: topics with partitions, replicas, offsets and config overrides (kafka-topics --describe).</summary>
public static class TopicsListCommand
{
    public static Command Create()
    {
        var topics = new Argument<string[]>("topics") { Description = "Topics to show (default: every topic but Kafka's internal ones).", Arity = ArgumentArity.ZeroOrMore };
        var partitions = new Option<bool>("--partitions", "-p") { Description = "One line per partition: leader, replicas, start and end offsets." };
        var bootstrap = KafkaConnection.BootstrapOption();
        var command = new Command("list", "List topics: partitions, replication, offsets in use (end - start: records kept, transaction markers included) and configs set on the topic.")
        {
            topics, partitions, bootstrap,
        };
        VerbAction.Set(command, async (parse, output, cancellationToken) =>
        {
            var factory = KafkaConnection.CreateFactory(parse.GetValue(bootstrap), output.Error);
            var timeout = TimeSpan.FromSeconds(30);
            using var admin = factory.CreateAdminClient();
            var metadata = admin.GetMetadata(timeout);
            cancellationToken.ThrowIfCancellationRequested();
            var wanted = parse.GetValue(topics) ?? [];
            var missing = wanted.Except(metadata.Topics.Select(t => t.Topic)).ToList();
            if (missing.Count > 0)
            {
                throw new UsageException(KafkaConnection.TopicsMissing(missing, factory.Settings.BootstrapServers));
            }

            var shown = metadata.Topics
                .Where(t => wanted.Length > 0 ? wanted.Contains(t.Topic) : !t.Topic.StartsWith("__", StringComparison.Ordinal))
                .OrderBy(t => t.Topic, StringComparer.Ordinal)
                .ToList();
            var configs = await DescribeConfigsAsync(admin, shown.Select(t => t.Topic), output.Error, cancellationToken);
            using var consumer = factory.CreateConsumer<byte[], byte[]>($"signal-pipeline-cli-{Guid.NewGuid():N}");
            var table = new TextTable("TOPIC", "PARTITIONS", "REPLICAS", "RECORDS", "CONFIGS");
            var details = new TextTable("TOPIC", "PARTITION", "LEADER", "REPLICAS", "START", "END");
            foreach (var topic in shown)
            {
                long? records = 0;
                foreach (var partition in topic.Partitions.OrderBy(p => p.PartitionId))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var replicas = string.Join(",", partition.Replicas);
                    if (partition.Leader < 0)
                    {
                        // Only a partition's leader knows its offsets: asking anyway waits the whole timeout and then
                        // reads as if the cluster had not answered. Its records are unknown, as kafka-topics shows it.
                        output.Error.WriteLine($"warning: {topic.Topic} partition {Invariant(partition.PartitionId)} has no leader " +
                            $"(replicas {(replicas.Length > 0 ? replicas : "none")}): its records cannot be read or written until one is elected; offsets unknown.");
                        records = null;
                        details.Add(topic.Topic, Invariant(partition.PartitionId), "none", replicas, "?", "?");
                        continue;
                    }

                    var offsets = consumer.QueryWatermarkOffsets(new TopicPartition(topic.Topic, partition.PartitionId), timeout);
                    records += offsets.High.Value - offsets.Low.Value;
                    details.Add(topic.Topic, Invariant(partition.PartitionId), Invariant(partition.Leader), replicas,
                        Invariant(offsets.Low.Value), Invariant(offsets.High.Value));
                }

                table.Add(topic.Topic, Invariant(topic.Partitions.Count), Invariant(topic.Partitions.FirstOrDefault()?.Replicas.Length ?? 0),
                    records is { } kept ? Invariant(kept) : "?", configs.GetValueOrDefault(topic.Topic, "?"));
            }

            output.Out.Write(parse.GetValue(partitions) ? details.ToString() : table.ToString());
            return ExitCodes.Success;
        }, ExitCodes.Interrupted);
        return command;
    }

    /// <summary>The configs set on each topic (not broker defaults); "?" when the broker cannot describe them (the dev broker).</summary>
    private static async Task<Dictionary<string, string>> DescribeConfigsAsync(IAdminClient admin, IEnumerable<string> topics, TextWriter error,
        CancellationToken cancellationToken)
    {
        var resources = topics.Select(t => new ConfigResource { Type = ResourceType.Topic, Name = t }).ToList();
        if (resources.Count == 0)
        {
            return [];
        }

        try
        {
            // The admin client's calls take no token: stop waiting on Ctrl+C (the request ends with the client).
            var results = await admin.DescribeConfigsAsync(resources, new DescribeConfigsOptions { RequestTimeout = TimeSpan.FromSeconds(5) })
                .WaitAsync(cancellationToken);
            return results.ToDictionary(r => r.ConfigResource.Name, r => string.Join(" ", r.Entries.Values
                .Where(e => e.Source == ConfigSource.DynamicTopicConfig)
                .OrderBy(e => e.Name, StringComparer.Ordinal)
                .Select(e => $"{e.Name}={e.Value}")) is { Length: > 0 } set ? set : "-");
        }
        catch (KafkaException ex)
        {
            error.WriteLine($"warning: topic configs unavailable: {ex.Error.Reason} ({ex.Error.Code})");
            return [];
        }
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
