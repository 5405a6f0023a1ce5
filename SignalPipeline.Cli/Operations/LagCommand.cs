using System.CommandLine;
using System.Globalization;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// <c>signal-pipeline kafka lag</c>: the processor's progress per input partition against the input's end, from the
/// group's committed offsets and from the changelog's partition checkpoints, saying which one each row uses.
/// </summary>
public static class LagCommand
{
    /// <summary>Give up when the cluster answers nothing for this long (reading the changelog: no record, no partition end).</summary>
    internal static readonly TimeSpan DefaultNoProgress = TimeSpan.FromSeconds(30);

    public static Command Create() => Create(DefaultNoProgress);

    /// <summary>The verb with another no-progress limit (tests make it short).</summary>
    internal static Command Create(TimeSpan noProgress)
    {
        var group = new Option<string>("--group", "-g") { Description = "Consumer group of the processor.", DefaultValueFactory = _ => PipelineTopics.ProcessorGroup };
        var input = new Option<string>("--input-topic")
        {
            Description = "The processor's input.",
            DefaultValueFactory = _ => KafkaConnection.TopicFromEnvironment(PipelineTopics.Input),
        };
        var changelog = new Option<string>("--changelog-topic")
        {
            Description = "The processor's state changelog (partition checkpoints).",
            DefaultValueFactory = _ => KafkaConnection.TopicFromEnvironment(PipelineTopics.Changelog),
        };
        var maxLag = new Option<long?>("--max-lag") { Description = "Exit 1 when the total lag is above this, 0 or more (for scripts and alerts)." };
        var bootstrap = KafkaConnection.BootstrapOption();
        var command = new Command("lag", "The processor's position and lag per input partition (group offsets and changelog checkpoints).")
        {
            group, input, changelog, maxLag, bootstrap,
        };
        VerbAction.Set(command, async (parse, output, cancellationToken) =>
        {
            if (parse.GetValue(maxLag) is < 0 and var negative)
            {
                throw new UsageException($"--max-lag must be 0 or more, was {negative}.");
            }

            var groupId = parse.GetValue(group)!;
            if (string.IsNullOrWhiteSpace(groupId))
            {
                throw new UsageException("--group must not be empty.");
            }

            var factory = KafkaConnection.CreateFactory(parse.GetValue(bootstrap), output.Error);
            var inputTopic = parse.GetValue(input)!;
            var changelogTopic = parse.GetValue(changelog)!;
            var rows = await Task.Run(() => ProcessorPosition.Read(factory, inputTopic, changelogTopic, groupId, noProgress, cancellationToken), cancellationToken);
            output.Out.WriteLine($"Group '{groupId}' on {inputTopic} (checkpoints from {changelogTopic}):");
            output.Out.Write(Format(rows));
            var total = rows.Sum(r => r.Lag);
            if (parse.GetValue(maxLag) is { } limit && total > limit)
            {
                // Exit 1 says it to a script; the line says it to whoever reads stderr (until 2026-12-05 nothing did).
                output.Error.WriteLine($"error: the total lag, {Counted.Of(total, "record")}, is above --max-lag {limit}.");
                return ExitCodes.Failure;
            }

            return ExitCodes.Success;
        }, ExitCodes.Interrupted);
        return command;
    }

    public static string Format(IReadOnlyList<PartitionPosition> rows)
    {
        var table = new TextTable("PARTITION", "START", "END", "GROUP", "CHANGELOG", "USED", "LAG");
        foreach (var row in rows)
        {
            table.Add(Invariant(row.Partition), Invariant(row.Start), Invariant(row.End), row.Committed is { } c ? Invariant(c) : "-",
                row.Checkpoint is { } k ? Invariant(k) : "-", row.Source, Invariant(row.Lag));
        }

        var sources = string.Join(", ", rows.GroupBy(r => r.Source).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));
        return table + $"Total lag {Counted.Of(rows.Sum(r => r.Lag), "record")} (position from: {sources}).\n";
    }

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
