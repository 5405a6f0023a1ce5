using Confluent.Kafka;

namespace SignalPipeline.Kafka;

/// <summary>What counts as a refusal by the cluster's ACLs, for every service and CLI verb (docs/kafka.md, "ACLs").</summary>
public static class KafkaAccess
{
    /// <summary>Kafka's answers to an operation the principal's ACLs do not allow (a topic, a group, a transactional id, the cluster).</summary>
    public static bool IsRefusal(ErrorCode code)
        => code is ErrorCode.TopicAuthorizationFailed or ErrorCode.GroupAuthorizationFailed or ErrorCode.TransactionalIdAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed;
}
