using System.Text;
using Confluent.Kafka;

namespace SignalPipeline.Messages;

/// <summary>
/// Kafka header names of the message contract (docs/messages.md). Values are UTF-8 text; numbers in invariant
/// decimal form, so kcat and other clients can read them.
/// </summary>
public static class MessageHeaders
{
    /// <summary>The value's form (<see cref="ContentTypes"/>); <c>application/json</c> when absent.</summary>
    public const string ContentType = "content-type";

    /// <summary>Binary form: the stream id (optional, the key is used when absent; must equal the key when both are set).</summary>
    public const string StreamId = "stream-id";

    /// <summary>Binary form: chunk number within the stream, integer ≥ 0 (required).</summary>
    public const string Seq = "seq";

    /// <summary>Binary input: samples per second, a positive number (optional).</summary>
    public const string SampleRate = "sample-rate";

    /// <summary>Binary form: producer timestamp, Unix ms (optional on input, required on output).</summary>
    public const string TimestampMs = "timestamp-ms";

    /// <summary>Binary output: the filter's name (required).</summary>
    public const string Algorithm = "algorithm";

    /// <summary>Binary output: when the processor filtered the chunk, Unix ms (required).</summary>
    public const string ProcessedMs = "processed-ms";

    /// <summary>
    /// What the names of the dead-letter topic's own headers start with: a dead letter keeps its record's headers but
    /// those, which the dead letter's own replace.
    /// </summary>
    public const string DeadLetterPrefix = "dlq-";

    /// <summary>Dead letters: the human-readable reason (<see cref="DecodeError.Message"/>).</summary>
    public const string DeadLetterReason = "dlq-reason";

    /// <summary>Dead letters: the stable error code (<see cref="DecodeError.CodeName"/>), e.g. <c>malformed-json</c>.</summary>
    public const string DeadLetterErrorCode = "dlq-error-code";

    /// <summary>Dead letters: the topic the record was read from.</summary>
    public const string DeadLetterSourceTopic = "dlq-source-topic";

    /// <summary>Dead letters: the partition the record was read from.</summary>
    public const string DeadLetterSourcePartition = "dlq-source-partition";

    /// <summary>Dead letters: the record's offset in its source partition.</summary>
    public const string DeadLetterSourceOffset = "dlq-source-offset";

    /// <summary>
    /// Adds the <c>dlq-*</c> headers describing why a record from <paramref name="source"/> could not be decoded.
    /// The dead letter keeps the original key, value and headers; these are appended.
    /// </summary>
    public static Headers AddDeadLetter(Headers headers, DecodeError error, TopicPartitionOffset source)
        => AddDeadLetter(headers, error.CodeName, error.Message, source);

    /// <summary>
    /// Adds the <c>dlq-*</c> headers for a record refused after decoding (e.g. <c>non-finite-output</c>): the stable
    /// <paramref name="code"/>, the human-readable <paramref name="reason"/> and where the record was read.
    /// </summary>
    public static Headers AddDeadLetter(Headers headers, string code, string? reason, TopicPartitionOffset source)
    {
        ArgumentNullException.ThrowIfNull(headers);
        headers.Add(DeadLetterReason, Encoding.UTF8.GetBytes(reason ?? string.Empty));
        headers.Add(DeadLetterErrorCode, Encoding.UTF8.GetBytes(code));
        headers.Add(DeadLetterSourceTopic, Encoding.UTF8.GetBytes(source.Topic ?? string.Empty));
        headers.Add(DeadLetterSourcePartition, Encoding.UTF8.GetBytes(source.Partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        headers.Add(DeadLetterSourceOffset, Encoding.UTF8.GetBytes(source.Offset.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return headers;
    }
}
