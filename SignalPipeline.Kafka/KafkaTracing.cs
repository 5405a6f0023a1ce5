using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using OpenTelemetry;
using OpenTelemetry.Context.Propagation;

namespace SignalPipeline.Kafka;

/// <summary>
/// W3C trace context in Kafka message headers (<c>traceparent</c>, <c>tracestate</c>) and producer/consumer spans on the
/// <c>SignalPipeline.Kafka</c> activity source with OpenTelemetry's messaging attributes, so one trace follows a chunk
/// from the service that produced it to the one that consumed it.
/// </summary>
public static class KafkaTracing
{
    public const string ActivitySourceName = "SignalPipeline.Kafka";
    public const string TraceParentHeader = "traceparent";
    public const string TraceStateHeader = "tracestate";

    public static readonly ActivitySource Source = new(ActivitySourceName);

    private static readonly TraceContextPropagator Propagator = new();

    /// <summary>Writes <paramref name="context"/> into <paramref name="headers"/>, replacing any trace context already there.</summary>
    public static void InjectTraceContext(Headers headers, ActivityContext context)
    {
        ArgumentNullException.ThrowIfNull(headers);
        headers.Remove(TraceParentHeader);
        headers.Remove(TraceStateHeader);
        if (context == default)
        {
            return;
        }

        Propagator.Inject(new PropagationContext(context, Baggage.Current), headers,
            static (carrier, key, value) => carrier.Add(key, Encoding.UTF8.GetBytes(value)));
    }

    /// <summary>The trace context a producer put in the headers, or <c>default</c> when there is none (or it is malformed).</summary>
    public static ActivityContext ExtractTraceContext(Headers? headers)
    {
        if (headers is null)
        {
            return default;
        }

        var propagation = Propagator.Extract(default, headers, static (carrier, key)
            => carrier.TryGetLastBytes(key, out var value) ? [Encoding.UTF8.GetString(value)] : []);
        return propagation.ActivityContext;
    }

    /// <summary>
    /// Starts a producer span for a message about to be sent to <paramref name="topic"/> and writes its context (or, when
    /// nobody records spans, the current one) into <paramref name="headers"/>. Dispose the span once the broker acknowledged.
    /// </summary>
    public static Activity? StartProduce(string topic, Headers headers, string? clientId = null, Partition? partition = null)
    {
        var activity = Source.StartActivity($"send {topic}", ActivityKind.Producer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "kafka");
            activity.SetTag("messaging.operation.type", "send");
            activity.SetTag("messaging.operation.name", "send");
            activity.SetTag("messaging.destination.name", topic);
            if (clientId is not null)
            {
                activity.SetTag("messaging.client.id", clientId);
            }

            if (partition is { } p && p != Partition.Any)
            {
                activity.SetTag("messaging.destination.partition.id", p.Value.ToString(CultureInfo.InvariantCulture));
            }
        }

        InjectTraceContext(headers, (activity ?? Activity.Current)?.Context ?? default);
        return activity;
    }

    /// <summary>Adds where the message landed to a producer span.</summary>
    public static void RecordDelivery(Activity? activity, TopicPartitionOffset delivered)
    {
        if (activity is not { IsAllDataRequested: true })
        {
            return;
        }

        activity.SetTag("messaging.destination.partition.id", delivered.Partition.Value.ToString(CultureInfo.InvariantCulture));
        activity.SetTag("messaging.kafka.offset", delivered.Offset.Value);
    }

    /// <summary>Marks a span failed with the Kafka error.</summary>
    public static void RecordError(Activity? activity, Exception exception)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        activity.AddException(exception);
        if (exception is KafkaException kafka)
        {
            activity.SetTag("error.type", kafka.Error.Code.ToString());
        }
    }

    /// <summary>
    /// Starts a consumer span for processing <paramref name="result"/>, a child of the producer's span found in the
    /// message headers. Dispose it when the message has been handled.
    /// </summary>
    public static Activity? StartProcess<TKey, TValue>(ConsumeResult<TKey, TValue> result, string? groupId = null, string? clientId = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        var parent = ExtractTraceContext(result.Message?.Headers);
        var activity = Source.StartActivity($"process {result.Topic}", ActivityKind.Consumer, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "kafka");
            activity.SetTag("messaging.operation.type", "process");
            activity.SetTag("messaging.operation.name", "process");
            activity.SetTag("messaging.destination.name", result.Topic);
            activity.SetTag("messaging.destination.partition.id", result.Partition.Value.ToString(CultureInfo.InvariantCulture));
            activity.SetTag("messaging.kafka.offset", result.Offset.Value);
            if (groupId is not null)
            {
                activity.SetTag("messaging.consumer.group.name", groupId);
            }

            if (clientId is not null)
            {
                activity.SetTag("messaging.client.id", clientId);
            }
        }

        return activity;
    }
}
