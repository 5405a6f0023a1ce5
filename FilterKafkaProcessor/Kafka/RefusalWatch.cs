using Confluent.Kafka;
using SignalPipeline.Kafka;

namespace FilterKafkaProcessor.Kafka;

/// <summary>
/// The first ACL refusal (<see cref="KafkaAccess.IsRefusal"/>) reported to a client's error callback or a
/// delivery report. librdkafka gives an assigned partition's refusal found in metadata (a topic's READ taken away) to the
/// error callback only ("desired partition is not available"), never to <c>Consume</c>: an assign-only reader that did
/// not watch it would read nothing more, unseen. <see cref="ThrowIfRefused"/> throws it where <c>Consume</c> would have.
/// </summary>
public sealed class RefusalWatch
{
    private Error? _refused;

    public Error? Refused => Volatile.Read(ref _refused);

    /// <summary>Keeps <paramref name="error"/> if it is the first refusal; anything else is the caller's to log.</summary>
    public void Note(Error error)
    {
        if (KafkaAccess.IsRefusal(error.Code))
        {
            Interlocked.CompareExchange(ref _refused, error, null);
        }
    }

    public void ThrowIfRefused()
    {
        if (Refused is { } refused)
        {
            throw new KafkaException(refused);
        }
    }
}
