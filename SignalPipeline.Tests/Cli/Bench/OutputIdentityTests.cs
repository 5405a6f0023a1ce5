using System.Text;
using Confluent.Kafka;
using SignalPipeline.Cli.Bench;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.Cli.Bench;

/// <summary>
/// What the bench's output consumer reads of each <c>sample-output</c> record (<see cref="OutputIdentityDeserializer"/>):
/// stream, seq and producer timestamp, from the value of a JSON record (its sample arrays jumped over, not read) and
/// from the headers of a binary one; anything else is unreadable, which the bench reports.
/// </summary>
public sealed class OutputIdentityTests
{
    private static readonly double[] Signal = [.. Enumerable.Range(0, 256).Select(i => Math.Sin(i * 0.1) + i * 1e-17)];
    private static readonly double[] Filtered = [.. Signal.Select(x => x * 0.9 - 1.5e-300)];

    [Fact]
    public void A_JSON_output_of_the_processor_is_identified_without_reading_its_arrays()
    {
        var message = SampleCodec.ToMessage(new FilteredChunk("sensor-7", 1234, "kalman", Signal, Filtered, 1_700_000_000_123, 1_700_000_000_130));

        Assert.Equal(new OutputIdentity("sensor-7", 1234, 1_700_000_000_123), Identify(message));
    }

    [Theory]
    [InlineData(SampleFormat.Json)]
    [InlineData(SampleFormat.Float64)]
    [InlineData(SampleFormat.Float32)]
    public void An_input_chunk_copied_by_the_pass_through_is_identified(SampleFormat format)
    {
        var message = SampleCodec.ToMessage(new SampleChunk("sensor-8", 99, Signal, SampleRate: 8000, TimestampMs: 1_700_000_000_456) { Format = format });

        Assert.Equal(new OutputIdentity("sensor-8", 99, 1_700_000_000_456), Identify(message));
    }

    [Fact]
    public void A_binary_output_is_identified_from_its_headers()
    {
        var message = SampleCodec.ToMessage(new FilteredChunk("sensor-9", 5, "rls", Signal, Filtered, 1_700_000_000_789, 1_700_000_000_790) { Format = SampleFormat.Float64 });

        Assert.Equal(new OutputIdentity("sensor-9", 5, 1_700_000_000_789), Identify(message));
    }

    [Theory]
    [InlineData("""{"stream_id":"s","seq":3,"signal":[],"filtered_signal":[],"timestamp_ms":8}""")]
    [InlineData("""{"extra":{"a":[1,[2]],"b":"]"},"signal":[ 1 , -2.5e3 ],"stream_id":"s","nothing":null,"seq":3,"timestamp_ms":8}""")]
    public void Fields_are_found_in_any_order_around_arrays_and_objects(string json)
        => Assert.Equal(new OutputIdentity("s", 3, 8), Identify(Json(json)));

    [Theory]
    [InlineData("""{"stream_id":"s","seq":3,"signal":[1,2,3""")] // cut inside an array
    [InlineData("""{"stream_id":"s","seq":3,"signal":[1,2,3],"timestamp_ms":""")] // cut before the last value
    [InlineData("""{"stream_id":"s","seq":3,"signal":[1,2]}""")] // no timestamp
    [InlineData("""{"stream_id":"s","signal":[1,2],"timestamp_ms":8}""")] // no seq
    [InlineData("""[1,2,3]""")]
    [InlineData("""not json""")]
    [InlineData("""{"stream_id":"s","seq":3,"signal":[1,2]],"timestamp_ms":8}""")] // a bracket too many
    public void Anything_else_is_unreadable(string json)
        => Assert.False(Identify(Json(json)).IsReadable);

    [Fact]
    public void A_record_of_an_unknown_content_type_is_unreadable()
        => Assert.False(Identify(Json("""{"stream_id":"s","seq":3,"timestamp_ms":8}""", "text/csv")).IsReadable);

    [Fact]
    public void A_record_without_a_content_type_is_read_as_JSON_as_the_processor_reads_it()
        => Assert.Equal(new OutputIdentity("s", 3, 8), Identify(Json("""{"stream_id":"s","seq":3,"timestamp_ms":8}""", contentType: null)));

    private static Message<byte[], byte[]> Json(string value, string? contentType = ContentTypes.Json) => new()
    {
        Value = Encoding.UTF8.GetBytes(value),
        Headers = contentType is null ? [] : new Headers { { MessageHeaders.ContentType, Encoding.UTF8.GetBytes(contentType) } },
    };

    private static OutputIdentity Identify(Message<byte[], byte[]> message)
        => new OutputIdentityDeserializer().Deserialize(message.Value, isNull: false, new SerializationContext(MessageComponentType.Value, "sample-output", message.Headers));
}
