namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// Kafka refused the processor an operation (<see cref="SignalPipeline.Kafka.KafkaAccess.IsRefusal"/>): the service stops,
/// naming the ACLs it needs, instead of retrying what every retry is refused (docs/processor.md, "Access refused (ACLs)").
/// Thrown by the stream thread, the stream-config reader and the instance directory, each naming what was refused.
/// </summary>
public sealed class AccessRefusedException(string message) : ServiceStopException(message)
{
    /// <summary>
    /// The stop's message: <paramref name="what"/> Kafka refused, the ACLs that part of the processor needs
    /// (<paramref name="allowed"/>) and where all of them are listed. Every retry would be refused the same way until an
    /// operator changes the ACLs, as Kafka Streams' threads die on an AuthorizationException.
    /// </summary>
    public static AccessRefusedException For(string what, string allowed)
        => new($"Kafka refused the processor access; it stops: {what}. Retrying cannot help until its principal is allowed {allowed} "
            + "(all its ACLs, with the kafka-acls commands: docs/kafka.md, \"ACLs\"). Nothing uncommitted was kept: started again, it resumes from the last commit.");
}
