using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Bench;

/// <summary>What the bench's output consumer needs of a record: which chunk it is and when it was produced.</summary>
public readonly record struct OutputIdentity(string StreamId, long Seq, long TimestampMs)
{
    /// <summary>A record that is neither a JSON nor a binary chunk the bench can identify.</summary>
    public static readonly OutputIdentity Unreadable = new("", -1, -1);

    public bool IsReadable => Seq >= 0;
}

/// <summary>
/// Reads a <c>sample-output</c> record's identity straight from librdkafka's buffer (Confluent.Kafka hands a value
/// deserializer a span over native memory): no copy of the value or the key, no samples decoded. The bench shares the
/// 2 cores with what it measures, and copying the values cost it a 1-64 KiB array per record (issue 14); the tests check
/// the values, the bench only that each (stream, seq) comes out once and when. Binary records (the processor's output
/// and the pass-through's copies of the input alike) carry stream, seq and timestamp in headers; JSON ones in the value.
/// </summary>
public sealed class OutputIdentityDeserializer : IDeserializer<OutputIdentity>
{
    public OutputIdentity Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (!SampleCodec.TryGetFormat(context.Headers, out var format, out _))
        {
            return OutputIdentity.Unreadable;
        }

        try
        {
            return format == SampleFormat.Json ? FromJson(data) : FromHeaders(context.Headers);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            // A deserializer's exception would surface from Consume: the record is counted as unreadable instead.
            return OutputIdentity.Unreadable;
        }
    }

    private static OutputIdentity FromHeaders(Headers? headers)
    {
        if (headers is null
            || !headers.TryGetLastBytes(MessageHeaders.StreamId, out var stream) || stream is null
            || !TryReadLong(headers, MessageHeaders.Seq, out var seq)
            || !TryReadLong(headers, MessageHeaders.TimestampMs, out var timestamp))
        {
            return OutputIdentity.Unreadable;
        }

        return new OutputIdentity(Encoding.UTF8.GetString(stream), seq, timestamp);
    }

    private static bool TryReadLong(Headers headers, string name, out long value)
    {
        value = -1;
        return headers.TryGetLastBytes(name, out var bytes) && bytes is not null
            && Utf8Parser.TryParse(bytes, out value, out var consumed) && consumed == bytes.Length && value >= 0;
    }

    /// <summary>
    /// Stream, seq and producer timestamp of a JSON chunk without parsing its samples: an array (<c>signal</c>,
    /// <c>filtered_signal</c>: numbers only) is jumped over to its closing bracket, and the reader goes on from there
    /// in the state it had after the opening one. Reading each number instead (<c>TrySkip</c>) cost about 15 µs per
    /// 256-sample array, half of the bench's CPU per JSON output record, taken from the processor it measures.
    /// </summary>
    private static OutputIdentity FromJson(ReadOnlySpan<byte> value)
    {
        var reader = new Utf8JsonReader(value);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return OutputIdentity.Unreadable;
        }

        // Where the reader's span starts in value: it moves when an array is jumped over.
        var offset = 0;
        (string? streamId, long seq, long timestampMs) = (null, -1, -1);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("stream_id"u8) && reader.Read())
            {
                streamId = reader.GetString();
            }
            else if (reader.ValueTextEquals("seq"u8) && reader.Read())
            {
                seq = reader.GetInt64();
            }
            else if (reader.ValueTextEquals("timestamp_ms"u8) && reader.Read())
            {
                timestampMs = reader.GetInt64();
            }
            else if (!reader.Read())
            {
                return OutputIdentity.Unreadable;
            }
            else if (reader.TokenType == JsonTokenType.StartArray)
            {
                var from = offset + (int)reader.BytesConsumed;
                var close = value[from..].IndexOf((byte)']');
                if (close < 0)
                {
                    return OutputIdentity.Unreadable;
                }

                offset = from + close;
                reader = new Utf8JsonReader(value[offset..], isFinalBlock: true, reader.CurrentState);
                if (!reader.Read() || reader.TokenType != JsonTokenType.EndArray)
                {
                    return OutputIdentity.Unreadable;
                }
            }
            else if (!reader.TrySkip())
            {
                return OutputIdentity.Unreadable;
            }
        }

        return streamId is not null && seq >= 0 && timestampMs >= 0 ? new OutputIdentity(streamId, seq, timestampMs) : OutputIdentity.Unreadable;
    }
}
