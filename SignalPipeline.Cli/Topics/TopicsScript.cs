using System.Globalization;
using System.Text;
using SignalPipeline.Kafka;

namespace SignalPipeline.Cli.Topics;

/// <summary>
/// The shell script that creates the pipeline's topics with Kafka's own <c>kafka-topics</c> tool, from
/// <see cref="PipelineTopics"/>: the Kubernetes topics Job and the compose topics service run it, so both create
/// exactly what <c>signal-pipeline kafka topics ensure</c> creates.
/// </summary>
public static class TopicsScript
{
    /// <summary>Kafka's topic tool inside a broker image: its path differs between the upstream and Confluent images.</summary>
    public static string ToolFor(string image) => image switch
    {
        _ when image.Contains("apache/kafka", StringComparison.OrdinalIgnoreCase) => "/opt/kafka/bin/kafka-topics.sh",
        _ when image.Contains("bitnami", StringComparison.OrdinalIgnoreCase) => "kafka-topics.sh",
        _ => "kafka-topics", // Confluent images (confluent-local, cp-kafka)
    };

    /// <summary>Waits for the broker, creates every topic that is missing (partitions, replication, configs), then describes them.</summary>
    public static string Render(string tool, string bootstrap, int partitions, int replicationFactor, IEnumerable<TopicDefinition>? topics = null)
    {
        var count = partitions.ToString(CultureInfo.InvariantCulture);
        var replicas = replicationFactor.ToString(CultureInfo.InvariantCulture);
        var script = new StringBuilder()
            .Append("set -eu\n")
            .Append($"until {tool} --bootstrap-server {bootstrap} --list >/dev/null 2>&1; do echo 'waiting for {bootstrap}'; sleep 5; done\n");
        foreach (var topic in topics ?? PipelineTopics.All)
        {
            script.Append($"{tool} --bootstrap-server {bootstrap} --create --if-not-exists --topic {topic.Name} --partitions {count} --replication-factor {replicas}");
            foreach (var (key, value) in topic.Configs.OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                script.Append($" --config {key}={value}");
            }

            script.Append('\n');
        }

        return script.Append($"{tool} --bootstrap-server {bootstrap} --describe\n").ToString();
    }
}
