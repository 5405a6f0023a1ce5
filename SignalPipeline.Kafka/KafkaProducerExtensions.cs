using Confluent.Kafka;

namespace SignalPipeline.Kafka;

/// <summary>Produce with a producer span and the W3C trace context in the message headers.</summary>
public static class KafkaProducerExtensions
{
    /// <summary><see cref="IProducer{TKey,TValue}.ProduceAsync(string, Message{TKey,TValue}, CancellationToken)"/>, traced.</summary>
    public static Task<DeliveryResult<TKey, TValue>> ProduceTracedAsync<TKey, TValue>(
        this IProducer<TKey, TValue> producer, string topic, Message<TKey, TValue> message, CancellationToken cancellationToken = default)
        => producer.ProduceTracedAsync(new TopicPartition(topic, Partition.Any), message, cancellationToken);

    /// <summary><see cref="IProducer{TKey,TValue}.ProduceAsync(TopicPartition, Message{TKey,TValue}, CancellationToken)"/>, traced.</summary>
    public static async Task<DeliveryResult<TKey, TValue>> ProduceTracedAsync<TKey, TValue>(
        this IProducer<TKey, TValue> producer, TopicPartition topicPartition, Message<TKey, TValue> message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(producer);
        ArgumentNullException.ThrowIfNull(message);
        message.Headers ??= [];
        using var activity = KafkaTracing.StartProduce(topicPartition.Topic, message.Headers, producer.Name, topicPartition.Partition);
        try
        {
            var result = await producer.ProduceAsync(topicPartition, message, cancellationToken).ConfigureAwait(false);
            KafkaTracing.RecordDelivery(activity, result.TopicPartitionOffset);
            return result;
        }
        catch (Exception ex)
        {
            KafkaTracing.RecordError(activity, ex);
            throw;
        }
    }

    /// <summary>
    /// <see cref="IProducer{TKey,TValue}.Produce(TopicPartition, Message{TKey,TValue}, Action{DeliveryReport{TKey,TValue}})"/>
    /// with the trace context in the headers (for high-rate and transactional producers). The span covers handing the
    /// message to librdkafka; its delivery report still goes to <paramref name="deliveryHandler"/>.
    /// </summary>
    public static void ProduceTraced<TKey, TValue>(
        this IProducer<TKey, TValue> producer, TopicPartition topicPartition, Message<TKey, TValue> message,
        Action<DeliveryReport<TKey, TValue>>? deliveryHandler = null)
    {
        ArgumentNullException.ThrowIfNull(producer);
        ArgumentNullException.ThrowIfNull(message);
        message.Headers ??= [];
        using var activity = KafkaTracing.StartProduce(topicPartition.Topic, message.Headers, producer.Name, topicPartition.Partition);
        try
        {
            producer.Produce(topicPartition, message, deliveryHandler);
        }
        catch (Exception ex)
        {
            KafkaTracing.RecordError(activity, ex);
            throw;
        }
    }

    /// <summary>
    /// <see cref="IProducer{TKey,TValue}.Produce(TopicPartition, Message{TKey,TValue}, Action{DeliveryReport{TKey,TValue}})"/>,
    /// waiting while librdkafka's local queue is full (<c>queue.buffering.max.messages</c>/<c>kbytes</c>): each time it
    /// polls for <paramref name="pollWait"/> so deliveries free it, and tries again; never drops the message.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled while the queue was full.</exception>
    public static void ProduceWaitingForRoom<TKey, TValue>(
        this IProducer<TKey, TValue> producer, TopicPartition topicPartition, Message<TKey, TValue> message,
        Action<DeliveryReport<TKey, TValue>>? deliveryHandler, TimeSpan pollWait, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(producer);
        while (true)
        {
            try
            {
                producer.Produce(topicPartition, message, deliveryHandler);
                return;
            }
            catch (ProduceException<TKey, TValue> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                cancellationToken.ThrowIfCancellationRequested();
                producer.Poll(pollWait);
            }
        }
    }

    /// <inheritdoc cref="ProduceTraced{TKey,TValue}(IProducer{TKey,TValue},TopicPartition,Message{TKey,TValue},Action{DeliveryReport{TKey,TValue}})"/>
    public static void ProduceTraced<TKey, TValue>(
        this IProducer<TKey, TValue> producer, string topic, Message<TKey, TValue> message,
        Action<DeliveryReport<TKey, TValue>>? deliveryHandler = null)
        => producer.ProduceTraced(new TopicPartition(topic, Partition.Any), message, deliveryHandler);
}
