using System.CommandLine;
using System.Globalization;
using Confluent.Kafka;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// <c>signal-pipeline kafka groups</c>: a group's committed offsets per partition against each partition's end
/// (kafka-consumer-groups --describe). Uses only OffsetFetch, which every broker answers; listing all groups needs the
/// admin ListGroups call, which the dev broker does not serve (and which aborted librdkafka 2.16.0 when tried there).
/// </summary>
public static class GroupsCommand
{
    public static Command Create()
    {
        var groups = new Option<string[]>("--group", "-g")
        {
            Description = "Group(s) to describe (repeatable).",
            DefaultValueFactory = _ => [PipelineTopics.ProcessorGroup],
        };
        var bootstrap = KafkaConnection.BootstrapOption();
        var command = new Command("groups", "Committed offsets, end and lag per partition of consumer groups (the processor's by default).") { groups, bootstrap };
        VerbAction.Set(command, async (parse, output, cancellationToken) =>
        {
            var ids = parse.GetValue(groups)!;
            if (ids.Any(string.IsNullOrWhiteSpace))
            {
                throw new UsageException("--group must not be empty.");
            }

            var factory = KafkaConnection.CreateFactory(parse.GetValue(bootstrap), output.Error);
            var rows = await Task.Run(() => ids.SelectMany(id => Describe(factory, id, TimeSpan.FromSeconds(30), cancellationToken)).ToList(), cancellationToken);
            var table = new TextTable("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG");
            foreach (var (group, partition, committed, end) in rows)
            {
                table.Add(group, partition.Topic, Invariant(partition.Partition.Value), Invariant(committed), Invariant(end), Invariant(Math.Max(0, end - committed)));
            }

            output.Out.Write(table.ToString());
            foreach (var id in ids.Where(id => rows.All(r => r.Group != id)))
            {
                output.Out.WriteLine($"{id}: no committed offsets" + (id == PipelineTopics.ProcessorGroup
                    ? " (the dev broker does not store transactional commits; 'kafka lag' reads the changelog's checkpoints)."
                    : "."));
            }

            return ExitCodes.Success;
        }, ExitCodes.Interrupted);
        return command;
    }

    /// <summary>The group's committed offsets on every partition of every non-internal topic that has one.</summary>
    /// <param name="cancellationToken">Ctrl+C: looked at between the requests (each waits up to <paramref name="timeout"/>).</param>
    public static IEnumerable<(string Group, TopicPartition Partition, long Committed, long End)> Describe(KafkaClientFactory factory, string group, TimeSpan timeout,
        CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        List<TopicPartition> partitions;
        using (var admin = factory.CreateAdminClient())
        {
            partitions = [.. admin.GetMetadata(timeout).Topics
                .Where(t => !t.Topic.StartsWith("__", StringComparison.Ordinal))
                .SelectMany(t => t.Partitions.Select(p => new TopicPartition(t.Topic, p.PartitionId)))
                .OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition.Value)];
        }

        cancellationToken.ThrowIfCancellationRequested();
        using var consumer = factory.CreateConsumer<byte[], byte[]>(group, config => config.EnableAutoCommit = false);
        foreach (var offset in consumer.Committed(partitions, timeout).Where(o => !o.Offset.IsSpecial))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return (group, offset.TopicPartition, offset.Offset.Value, consumer.QueryWatermarkOffsets(offset.TopicPartition, timeout).High.Value);
        }
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
