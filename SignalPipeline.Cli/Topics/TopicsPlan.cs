using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Topics;

/// <summary>A topic <c>kafka topics ensure</c> creates: name, partitions, replicas, and its configs from <see cref="PipelineTopics"/>.</summary>
public sealed record TopicCreation(TopicRequirement Topic, int Partitions, short ReplicationFactor);

/// <summary>
/// What <c>signal-pipeline kafka topics ensure</c> does to a cluster, decided without touching it: create each missing
/// topic, or refuse (nothing created) when an existing topic is wrong or what would be created would be. Missing topics
/// get at least <c>partitions</c> and, like the output and the changelog, at least as many as an existing input, so
/// they are co-partitioned with it.
/// </summary>
public sealed record TopicsPlan(IReadOnlyList<TopicCreation> Create, IReadOnlyList<TopicProblem> Problems)
{
    public static TopicsPlan For(
        IReadOnlyList<TopicRequirement> required, IReadOnlyDictionary<string, ObservedTopic> observed, int partitions, short replicationFactor)
    {
        var input = required.FirstOrDefault(r => r.Definition.Role == TopicRole.Input);
        var count = input is not null && observed.TryGetValue(input.Name, out var existing) ? Math.Max(partitions, existing.Partitions) : partitions;
        var create = required
            .Where(r => !observed.ContainsKey(r.Name))
            .Select(r => new TopicCreation(r, count, replicationFactor))
            .ToList();

        // The cluster as it would be afterwards must pass the check that the services run at start.
        var after = new Dictionary<string, ObservedTopic>(observed, StringComparer.Ordinal);
        foreach (var topic in create)
        {
            after[topic.Topic.Name] = new ObservedTopic(topic.Topic.Name, topic.Partitions, topic.Topic.Definition.Configs);
        }

        var problems = TopicCheck.Evaluate(required, after, minInputPartitions: partitions);
        return new TopicsPlan(problems.Count > 0 ? [] : create, problems);
    }
}
