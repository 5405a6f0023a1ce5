using System.Buffers;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Tests.Messages;

public sealed class SampleCodecTests
{
    private static readonly byte[] Sensor1 = "sensor-1"u8.ToArray();

    [Fact]
    public void Json_input_has_the_contract_field_names_in_order()
    {
        var chunk = new SampleChunk("sensor-1", 0, new[] { 0.2, 0.9, -0.8 }, 8000, 1_700_000_000_123);

        var message = SampleCodec.ToMessage(chunk);

        Assert.Equal(
            """{"stream_id":"sensor-1","seq":0,"signal":[0.2,0.9,-0.8],"sample_rate":8000,"timestamp_ms":1700000000123}""",
            Encoding.UTF8.GetString(message.Value));
        Assert.Equal("sensor-1", Encoding.UTF8.GetString(message.Key));
        Assert.Equal(ContentTypes.Json, Header(message.Headers, MessageHeaders.ContentType));
    }

    [Fact]
    public void Json_input_omits_absent_optional_fields()
    {
        var message = SampleCodec.ToMessage(new SampleChunk("s", 7, new[] { 1.5 }));

        Assert.Equal("""{"stream_id":"s","seq":7,"signal":[1.5]}""", Encoding.UTF8.GetString(message.Value));
    }

    [Fact]
    public void Json_output_has_the_contract_field_names_in_order()
    {
        var chunk = new FilteredChunk("sensor-1", 3, "kalman", new[] { 1.0, -2.5 }, new[] { 0.5, 0.25 }, 1_700_000_000_000, 1_700_000_000_004);

        var message = SampleCodec.ToMessage(chunk);

        Assert.Equal(
            """{"stream_id":"sensor-1","seq":3,"algorithm":"kalman","signal":[1,-2.5],"filtered_signal":[0.5,0.25],"timestamp_ms":1700000000000,"processed_ms":1700000000004}""",
            Encoding.UTF8.GetString(message.Value));
    }

    [Fact]
    public void Json_input_locates_its_signal_text_and_an_output_can_reuse_it_verbatim()
    {
        // Text a producer other than the codec may send: spacing, exponents, trailing zeros, -0.
        var json = """{ "seq": 2, "signal" : [ 1.50, -2e-3,0.1 , -0.0 ], "stream_id": "sensor-1" }"""u8.ToArray();
        Assert.True(SampleCodec.TryDecodeSampleChunk(Sensor1, json, null, out var input, out var error), error.Message);

        var range = Assert.IsType<Range>(input.SignalJsonRange);
        Assert.Equal("[ 1.50, -2e-3,0.1 , -0.0 ]", Encoding.UTF8.GetString(json.AsSpan(range)));

        var output = SampleCodec.ToMessage(new FilteredChunk("sensor-1", 2, "kalman", input.Signal, new[] { 1.0, 2.0, 3.0, 4.0 }, 5, 6)
        {
            SignalJson = json.AsMemory(range),
        });
        Assert.Equal(
            """{"stream_id":"sensor-1","seq":2,"algorithm":"kalman","signal":[ 1.50, -2e-3,0.1 , -0.0 ],"filtered_signal":[1,2,3,4],"timestamp_ms":5,"processed_ms":6}""",
            Encoding.UTF8.GetString(output.Value));
        Assert.True(SampleCodec.TryDecodeFilteredChunk(Sensor1, output.Value, output.Headers, out var decoded, out error), error.Message);
        AssertBitwiseEqual(input.Signal.Span, decoded.Signal.Span);
        AssertBitwiseEqual([1.5, -2e-3, 0.1, -0.0], decoded.Signal.Span);
    }

    [Fact]
    public void Json_input_writes_given_signal_text_verbatim()
    {
        var chunk = new SampleChunk("s", 1, new[] { 0.5, 2.0 }, 8000, 9) { SignalJson = "[0.50,2e0]"u8.ToArray() };

        var message = SampleCodec.ToMessage(chunk);

        Assert.Equal("""{"stream_id":"s","seq":1,"signal":[0.50,2e0],"sample_rate":8000,"timestamp_ms":9}""", Encoding.UTF8.GetString(message.Value));
        Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out var decoded, out var error), error.Message);
        AssertBitwiseEqual([0.5, 2.0], decoded.Signal.Span);
    }

    [Fact]
    public void Binary_input_has_no_signal_text()
    {
        var message = SampleCodec.ToMessage(new SampleChunk("sensor-1", 0, new[] { 1.0 }) { Format = SampleFormat.Float64 });

        Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out var chunk, out _));
        Assert.Null(chunk.SignalJsonRange);
    }

    [Fact]
    public void Json_written_by_the_codec_is_read_by_a_general_JSON_parser()
    {
        var message = SampleCodec.ToMessage(new SampleChunk("a\"b\\ü", 1, new[] { 1e-300, -0.0, 123456.789 }, 44100.5, 5));

        using var document = JsonDocument.Parse(message.Value);
        var root = document.RootElement;
        Assert.Equal("a\"b\\ü", root.GetProperty("stream_id").GetString());
        Assert.Equal(1, root.GetProperty("seq").GetInt64());
        Assert.Equal([1e-300, -0.0, 123456.789], root.GetProperty("signal").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(44100.5, root.GetProperty("sample_rate").GetDouble());
    }

    [Theory]
    [InlineData(SampleFormat.Json)]
    [InlineData(SampleFormat.Float64)]
    public void A_sample_rate_round_trips_bit_for_bit(SampleFormat format)
    {
        // docs/messages.md: numbers are written as text that parses back to the same double. .NET's own text for 2^-958
        // (4.104536801298376E-289), in Utf8JsonWriter and in "R", parses to the next double.
        foreach (var rate in new[] { Math.ScaleB(1, -958), double.Epsilon, double.MaxValue, 0.1 + 0.2, 44100.5 })
        {
            var decoded = Decode(SampleCodec.ToMessage(new SampleChunk("s", 0, new[] { 1.0 }, rate) { Format = format }), null);

            Assert.Equal(BitConverter.DoubleToInt64Bits(rate), BitConverter.DoubleToInt64Bits(decoded.SampleRate!.Value));
        }
    }

    [Theory]
    [InlineData(SampleFormat.Json, 1)]
    [InlineData(SampleFormat.Float64, 2)]
    [InlineData(SampleFormat.Float32, 3)]
    public void Input_round_trips_randomized(SampleFormat format, int seed)
    {
        var random = new Random(seed);
        using var buffer = new SampleBuffer();
        for (var iteration = 0; iteration < 200; iteration++)
        {
            var signal = RandomSamples(random, random.Next(1, 600), format);
            var chunk = new SampleChunk(
                $"stream-{random.Next(1000)}-ü", random.NextInt64(0, long.MaxValue), signal,
                random.Next(2) == 0 ? null : random.NextDouble() * 96_000 + 1e-3,
                random.Next(2) == 0 ? null : random.NextInt64(0, 4_000_000_000_000))
            { Format = format };

            var message = SampleCodec.ToMessage(chunk);
            var decoded = Decode(message, iteration % 2 == 0 ? buffer : null);

            Assert.Equal(chunk.StreamId, decoded.StreamId);
            Assert.Equal(chunk.Seq, decoded.Seq);
            Assert.Equal(chunk.SampleRate, decoded.SampleRate);
            Assert.Equal(chunk.TimestampMs, decoded.TimestampMs);
            Assert.Equal(format, decoded.Format);
            AssertBitwiseEqual(Expected(signal, format), decoded.Signal.Span);
        }
    }

    [Theory]
    [InlineData(SampleFormat.Json, 4)]
    [InlineData(SampleFormat.Float64, 5)]
    [InlineData(SampleFormat.Float32, 6)]
    public void Output_round_trips_randomized(SampleFormat format, int seed)
    {
        var random = new Random(seed);
        using var buffer = new SampleBuffer();
        for (var iteration = 0; iteration < 200; iteration++)
        {
            var length = random.Next(1, 600);
            var raw = RandomSamples(random, length, format);
            var filtered = RandomSamples(random, length, format);
            var chunk = new FilteredChunk(
                $"s{iteration}", random.NextInt64(0, long.MaxValue), iteration % 3 == 0 ? "kalman" : "my-filter",
                raw, filtered, random.NextInt64(0, 4_000_000_000_000), random.NextInt64(0, 4_000_000_000_000))
            { Format = format };

            var message = SampleCodec.ToMessage(chunk);
            Assert.True(
                SampleCodec.TryDecodeFilteredChunk(message.Key, message.Value, message.Headers, out var decoded, out var error, iteration % 2 == 0 ? buffer : null),
                error.ToString());

            Assert.Equal(chunk.StreamId, decoded.StreamId);
            Assert.Equal(chunk.Seq, decoded.Seq);
            Assert.Equal(chunk.Algorithm, decoded.Algorithm);
            Assert.Equal(chunk.TimestampMs, decoded.TimestampMs);
            Assert.Equal(chunk.ProcessedMs, decoded.ProcessedMs);
            Assert.Equal(format, decoded.Format);
            AssertBitwiseEqual(Expected(raw, format), decoded.Signal.Span);
            AssertBitwiseEqual(Expected(filtered, format), decoded.FilteredSignal.Span);
        }
    }

    /// <summary>
    /// The processor's spare value (<c>ToMessage(chunk, spareValue)</c>): written into when its length is the value's,
    /// never when it is not, and the bytes are those of <c>ToMessage(chunk)</c> either way.
    /// </summary>
    [Theory]
    [InlineData(SampleFormat.Float64)]
    [InlineData(SampleFormat.Float32)]
    [InlineData(SampleFormat.Json)]
    public void An_output_is_written_into_a_spare_value_of_its_length_only(SampleFormat format)
    {
        var first = new FilteredChunk("sensor-1", 1, "kalman", new[] { 1.0, 2.0, 3.0 }, new[] { 0.5, 1.5, 2.5 }, 5, 6) { Format = format };
        var second = first with { Seq = 2, Signal = new[] { -1.0, 4.0, 9.0 }, FilteredSignal = new[] { -0.5, 2.0, 8.0 } };
        var longer = first with { Seq = 3, Signal = new[] { 1.0, 2.0, 3.0, 4.0 }, FilteredSignal = new[] { 1.0, 2.0, 3.0, 4.0 } };

        var spare = SampleCodec.ToMessage(first).Value;
        var reused = SampleCodec.ToMessage(second, spare);
        Assert.Equal(SampleCodec.ToMessage(second).Value, reused.Value);
        Assert.Equal(format != SampleFormat.Json || reused.Value.Length == spare.Length, ReferenceEquals(spare, reused.Value));

        var copy = (byte[])spare.Clone();
        var grown = SampleCodec.ToMessage(longer, spare);
        Assert.NotSame(spare, grown.Value);
        Assert.Equal(copy, spare);
        Assert.Equal(SampleCodec.ToMessage(longer).Value, grown.Value);
    }

    [Theory]
    [InlineData(SampleFormat.Float64)]
    [InlineData(SampleFormat.Float32)]
    [InlineData(SampleFormat.Json)]
    public void A_chunk_decoded_over_its_value_reads_float64_samples_in_place_and_decodes_as_the_copying_decode(SampleFormat format)
    {
        var input = new SampleChunk("sensor-1", 7, new[] { 1.0, -2.5, 3.25, 1e-300 }, 8000, 1234) { Format = format };
        var message = SampleCodec.ToMessage(input);

        Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out var copied, out _));
        Assert.True(SampleCodec.TryDecodeSampleChunkOver(message.Key, message.Value, message.Headers, out var over, out _));
        Assert.Equal(copied.Signal.ToArray(), over.Signal.ToArray());
        Assert.Equal((copied.StreamId, copied.Seq, copied.SampleRate, copied.TimestampMs, copied.Format, copied.SignalJsonRange),
            (over.StreamId, over.Seq, over.SampleRate, over.TimestampMs, over.Format, over.SignalJsonRange));

        // Only a float64 chunk is read in place: a change to the value shows through its signal, not through the others'.
        var before = over.Signal.Span[0];
        message.Value.AsSpan().Fill(0);
        Assert.Equal(format == SampleFormat.Float64 ? 0.0 : before, over.Signal.Span[0]);
    }

    [Fact]
    public void A_chunk_decoded_over_its_value_refuses_what_the_copying_decode_refuses()
    {
        var message = SampleCodec.ToMessage(new SampleChunk("sensor-1", 7, new[] { 1.0, 2.0 }) { Format = SampleFormat.Float64 });
        BitConverter.TryWriteBytes(message.Value.AsSpan(8), double.NaN);

        Assert.False(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out _, out var copyingError));
        Assert.False(SampleCodec.TryDecodeSampleChunkOver(message.Key, message.Value, message.Headers, out var chunk, out var error));
        Assert.Null(chunk);
        Assert.Equal(copyingError, error);
        Assert.Equal(DecodeErrorCode.NonFiniteSample, error.Code);
    }

    [Fact]
    public void Json_numbers_survive_bit_for_bit_for_arbitrary_doubles()
    {
        // Random bit patterns cover subnormals, huge exponents and 17-significant-digit values, which a
        // "G15" or culture-dependent writer would not round-trip.
        var random = new Random(42);
        var samples = new double[10_000];
        for (var i = 0; i < samples.Length; i++)
        {
            double value;
            do
            {
                value = BitConverter.Int64BitsToDouble(random.NextInt64(long.MinValue, long.MaxValue));
            }
            while (!double.IsFinite(value));
            samples[i] = value;
        }

        samples[0] = double.Epsilon;
        samples[1] = double.MaxValue;
        samples[2] = -double.MinValue;
        samples[3] = 0.1 + 0.2;
        samples[4] = -0.0;

        var message = SampleCodec.ToMessage(new SampleChunk("s", 0, samples));
        var decoded = Decode(message, null);

        AssertBitwiseEqual(samples, decoded.Signal.Span);
    }

    [Fact]
    public void Binary_float64_value_is_the_little_endian_samples_and_metadata_is_in_headers()
    {
        var message = SampleCodec.ToMessage(new SampleChunk("sensor-1", 12, new[] { 1.0, -2.0 }, 8000, 99) { Format = SampleFormat.Float64 });

        Assert.Equal(
            [0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0xC0],
            message.Value);
        Assert.Equal(ContentTypes.Float64, Header(message.Headers, MessageHeaders.ContentType));
        Assert.Equal("sensor-1", Header(message.Headers, MessageHeaders.StreamId));
        Assert.Equal("12", Header(message.Headers, MessageHeaders.Seq));
        Assert.Equal("8000", Header(message.Headers, MessageHeaders.SampleRate));
        Assert.Equal("99", Header(message.Headers, MessageHeaders.TimestampMs));
    }

    [Fact]
    public void Binary_output_value_is_raw_then_filtered()
    {
        var message = SampleCodec.ToMessage(
            new FilteredChunk("s", 0, "lms", new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }, 10, 11) { Format = SampleFormat.Float32 });

        Assert.Equal(16, message.Value.Length);
        Assert.Equal([1f, 2f, 3f, 4f], Enumerable.Range(0, 4).Select(i => BitConverter.ToSingle(message.Value, i * 4)));
        Assert.Equal("lms", Header(message.Headers, MessageHeaders.Algorithm));
        Assert.Equal("10", Header(message.Headers, MessageHeaders.TimestampMs));
        Assert.Equal("11", Header(message.Headers, MessageHeaders.ProcessedMs));
    }

    [Theory]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,2""", DecodeErrorCode.MalformedJson)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,2]} x""", DecodeErrorCode.MalformedJson)]
    [InlineData("""not json""", DecodeErrorCode.MalformedJson)]
    [InlineData("", DecodeErrorCode.MalformedJson)]
    [InlineData("""[1,2,3]""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":1,"seq":0,"signal":[1]}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":"sensor-1","seq":"0","signal":[1]}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":"sensor-1","seq":1.5,"signal":[1]}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":"1,2"}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,"2"]}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,null]}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1],"sample_rate":"fast"}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1],"timestamp_ms":"now"}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"seq":0,"signal":[1]}""", DecodeErrorCode.MissingField)]
    [InlineData("""{"stream_id":"sensor-1","signal":[1]}""", DecodeErrorCode.MissingField)]
    [InlineData("""{"stream_id":"sensor-1","seq":0}""", DecodeErrorCode.MissingField)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,NaN]}""", DecodeErrorCode.NonFiniteSample)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[Infinity]}""", DecodeErrorCode.NonFiniteSample)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1, -Infinity]}""", DecodeErrorCode.NonFiniteSample)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,"NaN"]}""", DecodeErrorCode.NonFiniteSample)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1,"-Infinity"]}""", DecodeErrorCode.NonFiniteSample)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1e999]}""", DecodeErrorCode.NonFiniteSample)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[]}""", DecodeErrorCode.EmptySignal)]
    [InlineData("""{"stream_id":"sensor-1","seq":-1,"signal":[1]}""", DecodeErrorCode.NegativeSeq)]
    [InlineData("""{"stream_id":"sensor-2","seq":0,"signal":[1]}""", DecodeErrorCode.StreamIdMismatch)]
    [InlineData("""{"stream_id":"","seq":0,"signal":[1]}""", DecodeErrorCode.StreamIdMismatch)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1],"sample_rate":0}""", DecodeErrorCode.InvalidSampleRate)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1],"sample_rate":-8000}""", DecodeErrorCode.InvalidSampleRate)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1],"sample_rate":1e999}""", DecodeErrorCode.InvalidSampleRate)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1],"timestamp_ms":-5}""", DecodeErrorCode.InvalidTimestamp)]
    public void Json_poison_input_yields_its_specific_error(string json, DecodeErrorCode expected)
    {
        var ok = SampleCodec.TryDecodeSampleChunk(Sensor1, Encoding.UTF8.GetBytes(json), null, out var chunk, out var error);

        Assert.False(ok);
        Assert.Null(chunk);
        Assert.Equal(expected, error.Code);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void Json_without_key_takes_the_stream_id_from_the_body_and_ignores_unknown_fields()
    {
        var json = """{"extra":{"nested":[1,2,{"a":null}]},"signal":[0.5],"seq":4,"stream_id":"x","sample_rate":null,"timestamp_ms":null}"""u8;

        Assert.True(SampleCodec.TryDecodeSampleChunk([], json, null, out var chunk, out var error), error.ToString());

        Assert.Equal("x", chunk.StreamId);
        Assert.Equal(4, chunk.Seq);
        Assert.Null(chunk.SampleRate);
        Assert.Null(chunk.TimestampMs);
        Assert.Equal([0.5], chunk.Signal.ToArray());
    }

    [Fact]
    public void Json_empty_stream_id_without_key_is_invalid()
    {
        Assert.False(SampleCodec.TryDecodeSampleChunk([], """{"stream_id":"","seq":0,"signal":[1]}"""u8, null, out _, out var error));
        Assert.Equal(DecodeErrorCode.InvalidStreamId, error.Code);
    }

    [Fact]
    public void Invalid_utf8_in_an_ignored_field_is_skipped_not_checked()
    {
        // docs/messages.md: the strings of ignored fields are skipped, not checked.
        byte[] json = [.. "{\"note\":\""u8, 0xC3, 0x28, .. "\",\"stream_id\":\"sensor-1\",\"seq\":0,\"signal\":[1]}"u8];

        Assert.True(SampleCodec.TryDecodeSampleChunk(Sensor1, json, null, out var chunk, out var error), error.ToString());
        Assert.Equal("sensor-1", chunk.StreamId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sensor-1")] // a key it cannot equal: still malformed JSON, not a mismatch
    public void Invalid_utf8_in_a_json_string_is_malformed_json(string key)
    {
        byte[] json = [.. "{\"stream_id\":\""u8, 0xC3, 0x28, .. "\",\"seq\":0,\"signal\":[1]}"u8];

        Assert.False(SampleCodec.TryDecodeSampleChunk(Encoding.UTF8.GetBytes(key), json, null, out _, out var error));
        Assert.Equal(DecodeErrorCode.MalformedJson, error.Code);
    }

    [Theory]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[1],"filtered_signal":[1],"timestamp_ms":1,"processed_ms":2}""", DecodeErrorCode.MissingField)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"timestamp_ms":1,"processed_ms":2}""", DecodeErrorCode.MissingField)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"filtered_signal":[1],"processed_ms":2}""", DecodeErrorCode.MissingField)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"filtered_signal":[1],"timestamp_ms":1}""", DecodeErrorCode.MissingField)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1,2],"filtered_signal":[1],"timestamp_ms":1,"processed_ms":2}""", DecodeErrorCode.LengthMismatch)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"","signal":[1],"filtered_signal":[1],"timestamp_ms":1,"processed_ms":2}""", DecodeErrorCode.InvalidAlgorithm)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":7,"signal":[1],"filtered_signal":[1],"timestamp_ms":1,"processed_ms":2}""", DecodeErrorCode.WrongType)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"filtered_signal":[NaN],"timestamp_ms":1,"processed_ms":2}""", DecodeErrorCode.NonFiniteSample)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"filtered_signal":[1],"timestamp_ms":1,"processed_ms":-2}""", DecodeErrorCode.InvalidTimestamp)]
    public void Json_poison_output_yields_its_specific_error(string json, DecodeErrorCode expected)
    {
        Assert.False(SampleCodec.TryDecodeFilteredChunk(Sensor1, Encoding.UTF8.GetBytes(json), null, out _, out var error));
        Assert.Equal(expected, error.Code);
    }

    [Fact]
    public void Too_many_samples_is_rejected_in_every_form()
    {
        var limits = new DecodeLimits { MaxSamples = 100 };
        foreach (var format in new[] { SampleFormat.Json, SampleFormat.Float64, SampleFormat.Float32 })
        {
            var ok = SampleCodec.ToMessage(new SampleChunk("s", 0, new double[100]) { Format = format });
            Assert.True(SampleCodec.TryDecodeSampleChunk(ok.Key, ok.Value, ok.Headers, out _, out var none, limits: limits), none.ToString());

            var big = SampleCodec.ToMessage(new SampleChunk("s", 0, new double[101]) { Format = format });
            Assert.False(SampleCodec.TryDecodeSampleChunk(big.Key, big.Value, big.Headers, out _, out var error, limits: limits));
            Assert.Equal(DecodeErrorCode.TooManySamples, error.Code);
        }
    }

    [Fact]
    public void A_long_stream_id_is_rejected()
    {
        // Encode refuses such an id, so the record is written as a producer outside the codec would write it.
        var id = new string('a', 300);
        var message = SampleCodec.ToMessage(new SampleChunk("x", 0, new[] { 1.0 }));
        message.Value = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(message.Value).Replace("\"x\"", $"\"{id}\"", StringComparison.Ordinal));
        message.Key = Encoding.UTF8.GetBytes(id);
        Assert.Contains(id, Encoding.UTF8.GetString(message.Value), StringComparison.Ordinal);

        Assert.False(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, null, out _, out var error));
        Assert.Equal(DecodeErrorCode.InvalidStreamId, error.Code);
    }

    /// <summary>"s" then a byte that starts no UTF-8 character: read leniently it is "s\uFFFD", as is "s" then 0xFE.</summary>
    private static readonly byte[] NotUtf8Key = [(byte)'s', 0xFF];

    [Theory]
    [InlineData(SampleFormat.Json, true)] // its stream_id is the key read with U+FFFD
    [InlineData(SampleFormat.Float64, true)] // so is its stream-id header
    [InlineData(SampleFormat.Float64, false)] // the key alone
    public void A_record_key_that_is_not_utf8_is_an_invalid_stream_id_whatever_the_record_says(SampleFormat format, bool streamIdHeader)
    {
        var message = SampleCodec.ToMessage(new SampleChunk("s\uFFFD", 0, new[] { 1.0 }) { Format = format });
        if (!streamIdHeader)
        {
            message.Headers.Remove(MessageHeaders.StreamId);
        }

        Assert.False(SampleCodec.TryDecodeSampleChunk(NotUtf8Key, message.Value, message.Headers, out _, out var error));
        Assert.Equal(DecodeErrorCode.InvalidStreamId, error.Code);
        Assert.Equal("the record key is not valid UTF-8: 73FF", error.Message);
    }

    [Fact]
    public void A_record_key_that_is_not_utf8_is_an_invalid_stream_id_when_the_body_holds_the_same_bytes()
    {
        // Equal bytes, both unreadable: until 2026-12-06 the body's string failed to read first, as malformed-json.
        byte[] json = [.. "{\"stream_id\":\""u8, .. NotUtf8Key, .. "\",\"seq\":0,\"signal\":[1]}"u8];

        Assert.False(SampleCodec.TryDecodeSampleChunk(NotUtf8Key, json, null, out _, out var error));
        Assert.Equal((DecodeErrorCode.InvalidStreamId, "the record key is not valid UTF-8: 73FF"), (error.Code, error.Message));
    }

    [Theory]
    [InlineData("""{"stream_id":"x","stream_id":"sensor-1","seq":0,"signal":[1]}""", DecodeErrorCode.StreamIdMismatch, "stream_id 'x' differs from the record key 'sensor-1'")]
    [InlineData("""{"stream_id":"sensor-1","seq":"a","seq":1,"signal":[1]}""", DecodeErrorCode.WrongType, "seq must be an integer, not a string")]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"signal":[NaN],"signal":[1]}""", DecodeErrorCode.NonFiniteSample, "signal contains NaN; samples must be finite numbers")]
    [InlineData("""{"stream_id":"sensor-1","seq":1,"seq":-1,"signal":[1]}""", DecodeErrorCode.NegativeSeq, null)]
    public void A_field_given_twice_has_each_occurrence_checked_as_it_comes(string json, DecodeErrorCode expected, string? message)
    {
        Assert.False(SampleCodec.TryDecodeSampleChunk(Sensor1, Encoding.UTF8.GetBytes(json), null, out _, out var error));
        AssertError(expected, message, error);
    }

    /// <summary>The error's code, and its whole message where the row gives one.</summary>
    private static void AssertError(DecodeErrorCode expected, string? message, DecodeError error)
    {
        Assert.Equal(expected, error.Code);
        if (message is not null)
        {
            Assert.Equal(message, error.Message);
        }
    }

    [Fact]
    public void A_field_given_twice_counts_its_last_occurrence()
    {
        var json = """{"stream_id":"sensor-1","seq":-1,"seq":7,"signal":[1],"signal":[2,3]}"""u8.ToArray();
        Assert.True(SampleCodec.TryDecodeSampleChunk(Sensor1, json, null, out var chunk, out var error), error.ToString());
        Assert.Equal(7, chunk.Seq);
        Assert.Equal([2.0, 3.0], chunk.Signal.ToArray());
        Assert.Equal("[2,3]", Encoding.UTF8.GetString(json[chunk.SignalJsonRange!.Value]));
    }

    [Fact]
    public void A_byte_order_mark_before_the_object_is_malformed_json()
    {
        byte[] json = [0xEF, 0xBB, 0xBF, .. """{"stream_id":"sensor-1","seq":0,"signal":[1]}"""u8];

        Assert.False(SampleCodec.TryDecodeSampleChunk(Sensor1, json, null, out _, out var error));
        Assert.Equal(DecodeErrorCode.MalformedJson, error.Code);
    }

    [Fact]
    public void A_bare_non_finite_literal_in_filtered_signal_is_named_as_filtered_signal()
    {
        // Until 2026-12-06 the message said "signal" for either array.
        var json = """{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"filtered_signal":[NaN],"timestamp_ms":1,"processed_ms":2}"""u8;

        Assert.False(SampleCodec.TryDecodeFilteredChunk(Sensor1, json, null, out _, out var error));
        Assert.Equal((DecodeErrorCode.NonFiniteSample, "filtered_signal contains NaN; samples must be finite numbers"), (error.Code, error.Message));
    }

    public static TheoryData<string> LongNumbers => new()
    {
        "0." + new string('0', 1_000_000) + "1e1000010", // 1e9: a million zeros make up for an exponent past 100,000
        "1" + new string('0', 1_000_000) + "e-1000000", // 1
        "-0." + new string('0', 2_000) + "125e2003", // -125
        "0." + new string('0', 1_000_000) + "1e999999", // 1e-2
        "1" + new string('0', 400) + "e-100", // 1e300: a long text, but an exponent the fast path keeps
    };

    [Theory]
    [MemberData(nameof(LongNumbers))]
    public void A_long_number_text_whose_zeros_make_up_for_its_exponent_reads_as_double_Parse_reads_it(string number)
    {
        var expected = double.Parse(number, System.Globalization.CultureInfo.InvariantCulture);
        var json = Encoding.UTF8.GetBytes($$"""{"stream_id":"sensor-1","seq":0,"signal":[{{number}}]}""");

        Assert.True(SampleCodec.TryDecodeSampleChunk(Sensor1, json, null, out var chunk, out var error), error.ToString());
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(chunk.Signal.Span[0]));
    }

    [Theory]
    [InlineData("")] // no key: the header is the stream id
    [InlineData("s\uFFFD")] // the header read with U+FFFD: not a mismatch, and not this stream either
    [InlineData("sensor-1")] // another key: the header names no stream, so it cannot name another one
    public void A_stream_id_header_that_is_not_utf8_is_an_invalid_stream_id(string key)
    {
        var message = SampleCodec.ToMessage(new SampleChunk("s", 0, new[] { 1.0 }) { Format = SampleFormat.Float32 });
        message.Headers.Remove(MessageHeaders.StreamId);
        message.Headers.Add(MessageHeaders.StreamId, NotUtf8Key);

        Assert.False(SampleCodec.TryDecodeSampleChunk(Encoding.UTF8.GetBytes(key), message.Value, message.Headers, out _, out var error));
        Assert.Equal((DecodeErrorCode.InvalidStreamId, "the 'stream-id' header is not valid UTF-8: 73FF"), (error.Code, error.Message));
    }

    [Fact]
    public void A_key_names_a_stream_only_as_a_chunk_could_carry_it()
    {
        Assert.True(SampleCodec.TryReadStreamKey("sensor-\uFFFD"u8, out var id, out var problem), problem);
        Assert.Equal("sensor-\uFFFD", id);

        Assert.False(SampleCodec.TryReadStreamKey(NotUtf8Key, out _, out problem));
        Assert.Equal("the record key is not valid UTF-8: 73FF", problem);
        Assert.False(SampleCodec.TryReadStreamKey((byte[]?)null, out _, out problem));
        Assert.Equal("the record has no key (the stream id)", problem);
        Assert.False(SampleCodec.TryReadStreamKey(new byte[DecodeLimits.Default.MaxStreamIdBytes + 1], out _, out problem));
        Assert.Equal("the record key is 257 bytes, over the 256 of a stream id", problem);
    }

    [Theory]
    [InlineData("text/plain", DecodeErrorCode.UnknownContentType)]
    [InlineData("application/x-samples-f16", DecodeErrorCode.UnknownContentType)]
    [InlineData("", DecodeErrorCode.UnknownContentType)]
    [InlineData("\tapplication/json", DecodeErrorCode.UnknownContentType)] // only spaces are trimmed
    public void Unknown_content_type_is_rejected(string contentType, DecodeErrorCode expected)
    {
        var headers = new Headers { { MessageHeaders.ContentType, Encoding.UTF8.GetBytes(contentType) } };

        Assert.False(SampleCodec.TryDecodeSampleChunk(Sensor1, """{"stream_id":"sensor-1","seq":0,"signal":[1]}"""u8, headers, out _, out var error));
        Assert.Equal(expected, error.Code);
        Assert.Contains(contentType, error.Message);
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON")]
    [InlineData(" application/json ")]
    [InlineData("application/json ; charset=utf-8")]
    public void Content_type_parameters_and_case_are_ignored(string contentType)
    {
        var headers = new Headers { { MessageHeaders.ContentType, Encoding.UTF8.GetBytes(contentType) } };

        Assert.True(SampleCodec.TryDecodeSampleChunk(Sensor1, """{"stream_id":"sensor-1","seq":0,"signal":[1]}"""u8, headers, out _, out var error), error.ToString());
    }

    public static TheoryData<string, string?, DecodeErrorCode> BinaryPoison => new()
    {
        { "length", null, DecodeErrorCode.InvalidBinaryLength },
        { "empty", null, DecodeErrorCode.EmptySignal },
        { "nan", null, DecodeErrorCode.NonFiniteSample },
        { "infinity", null, DecodeErrorCode.NonFiniteSample },
        { "no-seq", null, DecodeErrorCode.MissingField },
        { "seq", "abc", DecodeErrorCode.InvalidHeader },
        { "seq", "-3", DecodeErrorCode.NegativeSeq },
        { "sample-rate", "x", DecodeErrorCode.InvalidHeader },
        { "sample-rate", "0", DecodeErrorCode.InvalidSampleRate },
        { "sample-rate", "NaN", DecodeErrorCode.InvalidSampleRate },
        { "sample-rate", "1e999", DecodeErrorCode.InvalidSampleRate },
        { "timestamp-ms", "1.5", DecodeErrorCode.InvalidHeader },
        { "stream-id", "sensor-2", DecodeErrorCode.StreamIdMismatch },
        { "no-key", null, DecodeErrorCode.MissingField },
    };

    [Theory]
    [MemberData(nameof(BinaryPoison))]
    public void Binary_poison_input_yields_its_specific_error(string what, string? headerValue, DecodeErrorCode expected)
    {
        var message = SampleCodec.ToMessage(new SampleChunk("sensor-1", 0, new[] { 1.0, 2.0, 3.0 }, 8000, 5) { Format = SampleFormat.Float64 });
        var headers = message.Headers;
        var key = message.Key;
        var value = message.Value;
        switch (what)
        {
            case "length": value = value[..^3]; break;
            case "empty": value = []; break;
            case "nan": BitConverter.TryWriteBytes(value.AsSpan(8), double.NaN); break;
            case "infinity": BitConverter.TryWriteBytes(value.AsSpan(16), double.NegativeInfinity); break;
            case "no-seq": headers.Remove(MessageHeaders.Seq); break;
            case "no-key": key = []; headers.Remove(MessageHeaders.StreamId); break;
            default:
                headers.Remove(what);
                headers.Add(what, Encoding.UTF8.GetBytes(headerValue!));
                break;
        }

        Assert.False(SampleCodec.TryDecodeSampleChunk(key, value, headers, out _, out var error));
        Assert.Equal(expected, error.Code);
    }

    /// <summary>
    /// docs/messages.md ("Choosing the form"): a binary header's number is a JSON number (RFC 8259), an integer one for
    /// seq and the timestamps. What .NET's parsers also take (a '+', white space, leading zeros, a trailing NUL, '.5',
    /// other spellings of NaN and infinity) is <c>invalid-header</c>, naming the header and quoting the value; until
    /// 2026-12-05 <c>seq: +5</c> was seq 5 and <c>sample-rate:  8000 </c> 8000.
    /// </summary>
    [Theory]
    [InlineData("seq", "+5")]
    [InlineData("seq", " 5")]
    [InlineData("seq", "5 ")]
    [InlineData("seq", "05")]
    [InlineData("seq", "-05")]
    [InlineData("seq", "5\0")]
    [InlineData("seq", "-")]
    [InlineData("seq", "")]
    [InlineData("seq", "1e3")]
    [InlineData("seq", "9223372036854775808")]
    [InlineData("seq", "10000000000000000000")]
    [InlineData("timestamp-ms", "+99")]
    [InlineData("sample-rate", "+8000")]
    [InlineData("sample-rate", " 8000")]
    [InlineData("sample-rate", "8000 ")]
    [InlineData("sample-rate", "08000")]
    [InlineData("sample-rate", ".5")]
    [InlineData("sample-rate", "5.")]
    [InlineData("sample-rate", "5e")]
    [InlineData("sample-rate", "8000\0")]
    [InlineData("sample-rate", "nan")]
    [InlineData("sample-rate", "+Infinity")]
    [InlineData("sample-rate", "∞")]
    [InlineData("sample-rate", "1,000")]
    public void A_binary_header_number_outside_the_JSON_grammar_is_invalid_header_naming_it_and_quoting_the_value(string header, string text)
    {
        var message = BinaryChunkWithHeader(header, text);

        Assert.False(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out _, out var error));

        Assert.Equal(DecodeErrorCode.InvalidHeader, error.Code);
        Assert.StartsWith($"header '{header}' = '{text}' is not ", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("seq", "0", 0L, null, null)]
    [InlineData("seq", "9223372036854775807", long.MaxValue, null, null)]
    [InlineData("timestamp-ms", "1700000000123", 0L, null, 1700000000123L)]
    [InlineData("timestamp-ms", "0", 0L, null, 0L)]
    [InlineData("sample-rate", "44100.5", 0L, 44100.5, null)]
    [InlineData("sample-rate", "4.41E4", 0L, 44100.0, null)]
    [InlineData("sample-rate", "1e-3", 0L, 0.001, null)]
    [InlineData("sample-rate", "0.30000000000000004", 0L, 0.30000000000000004, null)]
    public void A_binary_header_number_in_the_JSON_grammar_decodes_to_its_value(string header, string text, long seq, double? sampleRate, long? timestampMs)
    {
        var message = BinaryChunkWithHeader(header, text);

        Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out var chunk, out var error), error.ToString());

        Assert.Equal((seq, sampleRate, timestampMs), (chunk.Seq, chunk.SampleRate, chunk.TimestampMs));
    }

    /// <summary>A number the grammar takes that is out of the field's range keeps the field's own code, as in JSON.</summary>
    [Theory]
    [InlineData("seq", "-1", DecodeErrorCode.NegativeSeq)]
    [InlineData("seq", "-9223372036854775808", DecodeErrorCode.NegativeSeq)]
    [InlineData("timestamp-ms", "-1", DecodeErrorCode.InvalidTimestamp)]
    [InlineData("sample-rate", "-0", DecodeErrorCode.InvalidSampleRate)]
    [InlineData("sample-rate", "-8000", DecodeErrorCode.InvalidSampleRate)]
    [InlineData("sample-rate", "1E400", DecodeErrorCode.InvalidSampleRate)]
    [InlineData("sample-rate", "Infinity", DecodeErrorCode.InvalidSampleRate)]
    [InlineData("sample-rate", "-Infinity", DecodeErrorCode.InvalidSampleRate)]
    public void A_binary_header_number_in_the_grammar_but_out_of_range_gets_the_fields_code(string header, string text, DecodeErrorCode expected)
    {
        var message = BinaryChunkWithHeader(header, text);

        Assert.False(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out _, out var error));

        Assert.Equal(expected, error.Code);
    }

    /// <summary>The dead-letter reasons docs/messages.md quotes, to the character (an outside reader compares them so).</summary>
    [Theory]
    [InlineData("seq", "+5", "header 'seq' = '+5' is not an integer (a JSON integer within 64 bits: digits, an optional '-' before them, no leading zero)")]
    [InlineData("sample-rate", " 8000", "header 'sample-rate' = ' 8000' is not a number (a JSON number: 8000, 44100.5, 4.41e4)")]
    public void The_header_reasons_the_doc_quotes_are_the_codecs_words(string header, string text, string reason)
    {
        var message = BinaryChunkWithHeader(header, text);

        Assert.False(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out _, out var error));

        Assert.Equal((DecodeErrorCode.InvalidHeader, reason), (error.Code, error.Message));
    }

    [Fact]
    public void The_out_of_range_sample_reason_the_doc_quotes_is_the_codecs_words()
    {
        var value = Encoding.UTF8.GetBytes("""{"stream_id":"sensor-1","seq":0,"signal":[0.2,0.9,1e999]}""");

        Assert.False(SampleCodec.TryDecodeSampleChunk(Sensor1, value, null, out _, out var error));

        Assert.Equal((DecodeErrorCode.NonFiniteSample, "signal[2] = 1e999 is outside the range of a double"), (error.Code, error.Message));
    }

    /// <summary>A binary chunk (seq 0, no sample rate or timestamp) whose <paramref name="header"/> is <paramref name="text"/>.</summary>
    private static Message<byte[], byte[]> BinaryChunkWithHeader(string header, string text)
    {
        var message = SampleCodec.ToMessage(new SampleChunk("sensor-1", 0, new[] { 1.0 }) { Format = SampleFormat.Float64 });
        message.Headers.Remove(header);
        message.Headers.Add(header, Encoding.UTF8.GetBytes(text));
        return message;
    }

    [Fact]
    public void A_header_whose_value_is_null_counts_as_absent()
    {
        // docs/messages.md: a null content-type is JSON, a null seq is missing-field, a null stream-id leaves the key.
        var json = new Headers { { MessageHeaders.ContentType, null } };
        Assert.True(SampleCodec.TryDecodeSampleChunk(Sensor1, """{"stream_id":"sensor-1","seq":0,"signal":[1]}"""u8, json, out var chunk, out var error), error.ToString());
        Assert.Equal(SampleFormat.Json, chunk.Format);

        var noSeq = BinaryChunkWithHeader("stream-id", "sensor-1");
        noSeq.Headers.Remove(MessageHeaders.Seq);
        noSeq.Headers.Add(MessageHeaders.Seq, null);
        Assert.False(SampleCodec.TryDecodeSampleChunk(noSeq.Key, noSeq.Value, noSeq.Headers, out _, out error));
        Assert.Equal(DecodeErrorCode.MissingField, error.Code);

        var nullId = SampleCodec.ToMessage(new SampleChunk("sensor-1", 0, new[] { 1.0 }) { Format = SampleFormat.Float64 });
        nullId.Headers.Remove(MessageHeaders.StreamId);
        nullId.Headers.Add(MessageHeaders.StreamId, null);
        Assert.True(SampleCodec.TryDecodeSampleChunk(nullId.Key, nullId.Value, nullId.Headers, out chunk, out error), error.ToString());
        Assert.Equal("sensor-1", chunk.StreamId);
    }

    [Theory]
    [InlineData("sensor-1", DecodeErrorCode.StreamIdMismatch)] // an empty header differs from the key
    [InlineData("", DecodeErrorCode.MissingField)] // no key and an empty header: no stream id
    public void An_empty_stream_id_header_is_a_mismatch_with_a_key_and_missing_without(string key, DecodeErrorCode expected)
    {
        var message = BinaryChunkWithHeader("stream-id", "");

        Assert.False(SampleCodec.TryDecodeSampleChunk(Encoding.UTF8.GetBytes(key), message.Value, message.Headers, out _, out var error));
        Assert.Equal(expected, error.Code);
    }

    [Theory]
    [InlineData(new byte[] { 0x6B, 0xFF }, DecodeErrorCode.InvalidHeader)] // at most 64 bytes, not UTF-8
    [InlineData(new byte[0], DecodeErrorCode.InvalidAlgorithm)] // empty
    public void A_binary_output_algorithm_header_is_checked_as_the_doc_says(byte[] algorithm, DecodeErrorCode expected)
    {
        var message = SampleCodec.ToMessage(new FilteredChunk("s", 0, "kalman", new[] { 1.0 }, new[] { 2.0 }, 1, 2) { Format = SampleFormat.Float64 });
        message.Headers.Remove(MessageHeaders.Algorithm);
        message.Headers.Add(MessageHeaders.Algorithm, algorithm);

        Assert.False(SampleCodec.TryDecodeFilteredChunk(message.Key, message.Value, message.Headers, out _, out var error));
        Assert.Equal(expected, error.Code);
    }

    [Fact]
    public void A_binary_output_algorithm_header_of_65_bytes_not_utf8_is_an_invalid_algorithm()
    {
        var message = SampleCodec.ToMessage(new FilteredChunk("s", 0, "kalman", new[] { 1.0 }, new[] { 2.0 }, 1, 2) { Format = SampleFormat.Float64 });
        message.Headers.Remove(MessageHeaders.Algorithm);
        message.Headers.Add(MessageHeaders.Algorithm, Enumerable.Repeat((byte)0xFF, 65).ToArray());

        Assert.False(SampleCodec.TryDecodeFilteredChunk(message.Key, message.Value, message.Headers, out _, out var error));
        Assert.Equal(DecodeErrorCode.InvalidAlgorithm, error.Code);
    }

    [Theory]
    [InlineData(15, true)] // an ignored field nested 15 deep inside the chunk object: 16 levels
    [InlineData(16, false)] // 17 levels
    public void The_json_reader_takes_nesting_up_to_16_levels(int depth, bool decodes)
    {
        var nested = new string('[', depth) + new string(']', depth);
        var json = Encoding.UTF8.GetBytes($$"""{"extra":{{nested}},"stream_id":"sensor-1","seq":0,"signal":[1]}""");

        var ok = SampleCodec.TryDecodeSampleChunk(Sensor1, json, null, out _, out var error);
        Assert.Equal(decodes, ok);
        if (!decodes)
        {
            Assert.Equal(DecodeErrorCode.MalformedJson, error.Code);
        }
    }

    [Theory]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"filtered_signal":[1],"timestamp_ms":null,"processed_ms":2}""", DecodeErrorCode.WrongType, null)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"filtered_signal":[1],"timestamp_ms":1,"processed_ms":null}""", DecodeErrorCode.WrongType, null)]
    [InlineData("""{"stream_id":"sensor-1","seq":0,"algorithm":"kalman","signal":[1],"timestamp_ms":1,"processed_ms":2}""", DecodeErrorCode.MissingField, "filtered_signal is missing")]
    public void Json_output_timestamps_are_required_integers_and_a_missing_array_is_named(string json, DecodeErrorCode expected, string? message)
    {
        Assert.False(SampleCodec.TryDecodeFilteredChunk(Sensor1, Encoding.UTF8.GetBytes(json), null, out _, out var error));
        AssertError(expected, message, error);
    }

    [Fact]
    public void Binary_float32_length_must_be_a_multiple_of_four()
    {
        var headers = new Headers { { MessageHeaders.ContentType, Encoding.ASCII.GetBytes(ContentTypes.Float32) }, { MessageHeaders.Seq, "0"u8.ToArray() } };

        Assert.False(SampleCodec.TryDecodeSampleChunk(Sensor1, new byte[6], headers, out _, out var error));
        Assert.Equal(DecodeErrorCode.InvalidBinaryLength, error.Code);
        Assert.True(SampleCodec.TryDecodeSampleChunk(Sensor1, new byte[8], headers, out var chunk, out error), error.ToString());
        Assert.Equal(2, chunk.Signal.Length);
    }

    [Theory]
    [InlineData(SampleFormat.Json)]
    [InlineData(SampleFormat.Float64)]
    public void An_output_algorithm_longer_than_64_bytes_is_refused_by_the_decoder_and_the_encoder(SampleFormat format)
    {
        // A reader keeps the algorithm per stream (the bridge does): a record with megabytes there must not be kept.
        var longest = new string('a', 64);
        var message = SampleCodec.ToMessage(new FilteredChunk("s", 0, longest, new[] { 1.0 }, new[] { 2.0 }, 1, 2) { Format = format });
        Assert.True(SampleCodec.TryDecodeFilteredChunk(message.Key, message.Value, message.Headers, out var decoded, out var error), error.Message);
        Assert.Equal(longest, decoded.Algorithm);

        var tooLong = longest + "b";
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new FilteredChunk("s", 0, tooLong, new[] { 1.0 }, new[] { 2.0 }, 1, 2) { Format = format }));
        if (format == SampleFormat.Json)
        {
            var json = Encoding.UTF8.GetString(message.Value).Replace(longest, tooLong, StringComparison.Ordinal);
            message.Value = Encoding.UTF8.GetBytes(json);
        }
        else
        {
            message.Headers.Remove(MessageHeaders.Algorithm);
            message.Headers.Add(MessageHeaders.Algorithm, Encoding.UTF8.GetBytes(tooLong));
        }

        Assert.False(SampleCodec.TryDecodeFilteredChunk(message.Key, message.Value, message.Headers, out _, out error));
        Assert.Equal(DecodeErrorCode.InvalidAlgorithm, error.Code);
        Assert.Contains("at most 64 UTF-8 bytes, was 65", error.Message);
    }

    [Fact]
    public void Binary_output_needs_whole_raw_and_filtered_pairs_and_its_headers()
    {
        var message = SampleCodec.ToMessage(new FilteredChunk("s", 0, "kalman", new[] { 1.0 }, new[] { 2.0 }, 1, 2) { Format = SampleFormat.Float64 });

        Assert.False(SampleCodec.TryDecodeFilteredChunk(message.Key, message.Value.AsSpan(0, 8), message.Headers, out _, out var error));
        Assert.Equal(DecodeErrorCode.InvalidBinaryLength, error.Code);

        message.Headers.Remove(MessageHeaders.Algorithm);
        Assert.False(SampleCodec.TryDecodeFilteredChunk(message.Key, message.Value, message.Headers, out _, out error));
        Assert.Equal(DecodeErrorCode.MissingField, error.Code);
        Assert.Contains(MessageHeaders.Algorithm, error.Message);
    }

    [Fact]
    public void Binary_stream_id_comes_from_the_key_when_the_header_is_absent()
    {
        var message = SampleCodec.ToMessage(new SampleChunk("from-key", 9, new[] { 1.0 }) { Format = SampleFormat.Float32 });
        message.Headers.Remove(MessageHeaders.StreamId);

        Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out var chunk, out var error), error.ToString());
        Assert.Equal("from-key", chunk.StreamId);
        Assert.Equal(9, chunk.Seq);
    }

    [Fact]
    public void A_header_given_twice_counts_by_its_last_value()
    {
        // docs/messages.md: the last one counts (Confluent's TryGetLastBytes), content-type included.
        var message = SampleCodec.ToMessage(new SampleChunk("s", 1, new[] { 1.0, -2.0 }, 8000) { Format = SampleFormat.Float32 });
        message.Headers.Add(MessageHeaders.Seq, "7"u8.ToArray());
        message.Headers.Add(MessageHeaders.SampleRate, "44100.5"u8.ToArray());
        message.Headers.Add(MessageHeaders.ContentType, Encoding.ASCII.GetBytes(ContentTypes.Float64));

        var chunk = Decode(message, null);

        Assert.Equal((7L, 44100.5, SampleFormat.Float64), (chunk.Seq, chunk.SampleRate!.Value, chunk.Format));
        Assert.Equal([BitConverter.UInt64BitsToDouble(0xC00000003F800000)], chunk.Signal.ToArray());
    }

    [Fact]
    public void Encoding_rejects_chunks_that_would_not_decode()
    {
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new SampleChunk("s", 0, new[] { double.NaN })));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new SampleChunk("s", 0, ReadOnlyMemory<double>.Empty)));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new SampleChunk("", 0, new[] { 1.0 })));
        Assert.Throws<ArgumentOutOfRangeException>(() => SampleCodec.ToMessage(new SampleChunk("s", -1, new[] { 1.0 })));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new SampleChunk("s", 0, new[] { 1e300 }) { Format = SampleFormat.Float32 }));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new FilteredChunk("s", 0, "kalman", new[] { 1.0 }, new[] { 1.0, 2.0 }, 0, 0)));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new FilteredChunk("s", 0, "", new[] { 1.0 }, new[] { 1.0 }, 0, 0)));

        // What the decoders refuse as invalid-stream-id and invalid-timestamp: a stream id over 256 UTF-8 bytes (85 chars
        // of 3 bytes each is 255 and passes, 86 do not), negative times.
        Assert.Equal(255, SampleCodec.ToMessage(new SampleChunk(new string('\u20ac', 85), 0, new[] { 1.0 })).Key.Length);
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new SampleChunk(new string('\u20ac', 86), 0, new[] { 1.0 })));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new SampleChunk(new string('a', 257), 0, new[] { 1.0 })));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new SampleChunk("s", 0, new[] { 1.0 }) { TimestampMs = -1 }));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new FilteredChunk("s", 0, "kalman", new[] { 1.0 }, new[] { 1.0 }, -1, 0)));
        Assert.Throws<ArgumentException>(() => SampleCodec.ToMessage(new FilteredChunk("s", 0, "kalman", new[] { 1.0 }, new[] { 1.0 }, 0, -1)));
    }

    [Fact]
    public void Encode_appends_to_a_caller_buffer_writer()
    {
        var value = new ArrayBufferWriter<byte>();
        value.Write("prefix"u8);
        var headers = new Headers();

        SampleCodec.Encode(new SampleChunk("s", 0, new[] { 2.0 }) { Format = SampleFormat.Float64 }, value, headers);

        Assert.Equal(6 + 8, value.WrittenCount);
        Assert.Equal(2.0, BitConverter.ToDouble(value.WrittenSpan[6..]));
    }

    [Theory]
    [InlineData(SampleFormat.Json)]
    [InlineData(SampleFormat.Float64)]
    [InlineData(SampleFormat.Float32)]
    public void Decoding_into_a_buffer_allocates_nothing_per_sample(SampleFormat format)
    {
        var message = SampleCodec.ToMessage(new SampleChunk("sensor-1", 1, RandomSamples(new Random(1), 4096, format), 8000, 1) { Format = format });
        using var buffer = new SampleBuffer();
        Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out _, out _, buffer));

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10; i++)
        {
            Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out _, out _, buffer));
        }

        var perDecode = (GC.GetAllocatedBytesForCurrentThread() - before) / 10;

        // The chunk record and the stream id string only; 4096 samples would be 32 KiB.
        Assert.True(perDecode < 512, $"{perDecode} bytes allocated per decode");
    }

    [Fact]
    public void A_long_key_is_quoted_as_text_cut_before_the_character_that_crosses_64_bytes()
    {
        // 100 three-byte characters: the 22nd crosses byte 64, so 21 are shown (63 bytes), as text, not hexadecimal.
        var key = Encoding.UTF8.GetBytes(new string('€', 100));

        Assert.False(SampleCodec.TryDecodeSampleChunk(key, """{"stream_id":"s","seq":0,"signal":[1]}"""u8, null, out _, out var json));
        var binary = new Headers { { MessageHeaders.ContentType, "application/x-samples-f64"u8.ToArray() }, { MessageHeaders.StreamId, "s"u8.ToArray() }, { MessageHeaders.Seq, "0"u8.ToArray() } };
        Assert.False(SampleCodec.TryDecodeSampleChunk(key, new byte[8], binary, out _, out var f64));

        Assert.EndsWith($"differs from the record key '{new string('€', 21)}...'", json.Message, StringComparison.Ordinal);
        Assert.EndsWith($"differs from the record key '{new string('€', 21)}...'", f64.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dead_letter_headers_say_why_and_where_from()
    {
        Assert.False(SampleCodec.TryDecodeSampleChunk(Sensor1, "{"u8, null, out _, out var error));
        var headers = new Headers { { "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"u8.ToArray() } };

        MessageHeaders.AddDeadLetter(headers, error, new TopicPartitionOffset("sample-input", 3, 42));

        Assert.Equal("malformed-json", Header(headers, MessageHeaders.DeadLetterErrorCode));
        Assert.StartsWith("malformed JSON", Header(headers, MessageHeaders.DeadLetterReason));
        Assert.Equal("sample-input", Header(headers, MessageHeaders.DeadLetterSourceTopic));
        Assert.Equal("3", Header(headers, MessageHeaders.DeadLetterSourcePartition));
        Assert.Equal("42", Header(headers, MessageHeaders.DeadLetterSourceOffset));
        Assert.NotNull(Header(headers, "traceparent"));
    }

    [Fact]
    public void Every_error_code_has_a_distinct_kebab_case_name()
    {
        var names = Enum.GetValues<DecodeErrorCode>().Select(code => new DecodeError(code, "").CodeName).ToList();

        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.All(names, name => Assert.Matches("^[a-z]+(-[a-z0-9]+)*$", name));
    }

    private static SampleChunk Decode(Message<byte[], byte[]> message, SampleBuffer? buffer)
    {
        Assert.True(SampleCodec.TryDecodeSampleChunk(message.Key, message.Value, message.Headers, out var chunk, out var error, buffer), error.ToString());
        return chunk;
    }

    private static double[] RandomSamples(Random random, int length, SampleFormat format)
    {
        var samples = new double[length];
        var scale = format == SampleFormat.Float32 ? 1e30 : 1e300;
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = random.Next(4) switch
            {
                0 => random.NextDouble() * 2 - 1,
                1 => (random.NextDouble() * 2 - 1) * scale,
                2 => (random.NextDouble() * 2 - 1) / scale,
                _ => Math.Round(random.NextDouble() * 1000, random.Next(6)),
            };
        }

        return samples;
    }

    private static double[] Expected(double[] samples, SampleFormat format)
        => format == SampleFormat.Float32 ? samples.Select(x => (double)(float)x).ToArray() : samples;

    private static void AssertBitwiseEqual(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            if (BitConverter.DoubleToInt64Bits(expected[i]) != BitConverter.DoubleToInt64Bits(actual[i]))
            {
                Assert.Fail($"sample {i}: expected {expected[i]:R}, got {actual[i]:R}");
            }
        }
    }

    private static string? Header(Headers headers, string name)
        => headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
}
