using System.CommandLine;

namespace SignalPipeline.Cli.Operations;

/// <summary>
/// The operations verbs: <c>produce</c>, <c>filter</c>, <c>dlq replay</c> and the <c>kafka</c> group's <c>tail</c>,
/// <c>topics list</c>, <c>groups</c>, <c>lag</c>. Adds them to the root, joining a <c>kafka</c> (and <c>kafka topics</c>)
/// command that another part of the tool has already registered.
/// </summary>
public static class OperationsCommands
{
    public static void AddTo(RootCommand root)
    {
        root.Subcommands.Add(ProduceCommand.Create());
        root.Subcommands.Add(DlqReplayCommand.Create());
        root.Subcommands.Add(FilterCommand.Create());
        var kafka = Child(root, "kafka", "Inspect and operate the pipeline's Kafka topics.");
        kafka.Subcommands.Add(TailCommand.Create());
        kafka.Subcommands.Add(LagCommand.Create());
        kafka.Subcommands.Add(GroupsCommand.Create());
        Child(kafka, "topics", "The pipeline's topics.").Subcommands.Add(TopicsListCommand.Create());
    }

    /// <summary>The existing subcommand of that name, or a new one added to <paramref name="parent"/>.</summary>
    public static Command Child(Command parent, string name, string description)
    {
        var existing = parent.Subcommands.FirstOrDefault(c => c.Name == name);
        if (existing is not null)
        {
            return existing;
        }

        var command = new Command(name, description);
        parent.Subcommands.Add(command);
        return command;
    }
}
