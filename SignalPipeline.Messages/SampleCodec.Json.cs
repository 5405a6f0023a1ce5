using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;

namespace SignalPipeline.Messages;

public static partial class SampleCodec
{
    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    // Where WriteSamples formats an array before handing it to the writer; grows to the largest chunk a thread encodes.
    [ThreadStatic]
    private static byte[]? t_samplesText;

    // The body is ours to shape: skip the writer's per-call structure checks (the tests parse what it writes).
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true };

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16 };

    private static Utf8JsonWriter RentJsonWriter(IBufferWriter<byte> output)
    {
        var writer = t_writer ??= new Utf8JsonWriter(output, WriterOptions);
        writer.Reset(output);
        return writer;
    }

    private static void WriteJson(SampleChunk chunk, IBufferWriter<byte> output)
    {
        var writer = RentJsonWriter(output);
        writer.WriteStartObject();
        writer.WriteString("stream_id"u8, chunk.StreamId);
        writer.WriteNumber("seq"u8, chunk.Seq);
        WriteSignal(writer, chunk.SignalJson.Span, chunk.Signal.Span);
        if (chunk.SampleRate is { } rate)
        {
            // As the samples: Utf8JsonWriter's text for a few doubles (2^-958) parses back to a neighbour.
            Span<byte> text = stackalloc byte[ShortestDouble.BufferLength];
            writer.WritePropertyName("sample_rate"u8);
            writer.WriteRawValue(text[..ShortestDouble.Format(rate, text)], skipInputValidation: true);
        }

        if (chunk.TimestampMs is { } timestamp)
        {
            writer.WriteNumber("timestamp_ms"u8, timestamp);
        }

        writer.WriteEndObject();
        writer.Flush();
    }

    private static void WriteJson(FilteredChunk chunk, IBufferWriter<byte> output)
    {
        var writer = RentJsonWriter(output);
        writer.WriteStartObject();
        writer.WriteString("stream_id"u8, chunk.StreamId);
        writer.WriteNumber("seq"u8, chunk.Seq);
        writer.WriteString("algorithm"u8, chunk.Algorithm);
        WriteSignal(writer, chunk.SignalJson.Span, chunk.Signal.Span);

        WriteSamples(writer, "filtered_signal"u8, chunk.FilteredSignal.Span);
        writer.WriteNumber("timestamp_ms"u8, chunk.TimestampMs);
        writer.WriteNumber("processed_ms"u8, chunk.ProcessedMs);
        writer.WriteEndObject();
        writer.Flush();
    }

    /// <summary>The <c>signal</c> array: <paramref name="json"/> as-is when given (text known to parse to
    /// <paramref name="samples"/>), else the samples formatted.</summary>
    private static void WriteSignal(Utf8JsonWriter writer, ReadOnlySpan<byte> json, ReadOnlySpan<double> samples)
    {
        if (json.IsEmpty)
        {
            WriteSamples(writer, "signal"u8, samples);
            return;
        }

        writer.WritePropertyName("signal"u8);
        writer.WriteRawValue(json, skipInputValidation: true);
    }

    /// <summary>
    /// The array as the shortest text that parses back to the same bits, in the bytes Utf8JsonWriter would write
    /// (<see cref="ShortestDouble"/>, about twice as fast as its formatting), added as one raw value.
    /// </summary>
    private static void WriteSamples(Utf8JsonWriter writer, ReadOnlySpan<byte> name, ReadOnlySpan<double> samples)
    {
        var needed = 2 + samples.Length * (ShortestDouble.MaxLength + 1);
        var text = t_samplesText is { } reused && reused.Length >= needed ? reused : t_samplesText = new byte[Math.Max(needed, 8192)];
        var length = 1;
        text[0] = (byte)'[';
        foreach (var sample in samples)
        {
            length += ShortestDouble.Format(sample, text.AsSpan(length));
            text[length++] = (byte)',';
        }

        // The last comma becomes the closing bracket (an empty array keeps its '[' and gets one).
        length -= samples.IsEmpty ? 0 : 1;
        text[length++] = (byte)']';
        writer.WritePropertyName(name);
        writer.WriteRawValue(text.AsSpan(0, length), skipInputValidation: true);
    }

    private static bool TryReadJson(ReadOnlySpan<byte> json, ReadOnlySpan<byte> key, bool output, DecodeLimits limits, ref Fields fields, out DecodeError error)
        => TryReadJson(json, key, output, limits, ref fields, out error, fast: true);

    // fast: whether samples arrays may be parsed by TryReadSamplesFast; without, the reader reads everything (a failure
    // after a fast array is decoded again this way, so its message gives true positions).
    private static bool TryReadJson(ReadOnlySpan<byte> json, ReadOnlySpan<byte> key, bool output, DecodeLimits limits, ref Fields fields, out DecodeError error, bool fast)
    {
        var reader = new Utf8JsonReader(json, ReaderOptions);

        // Where the reader's input starts in json: after a fast array, a new reader goes on from its end.
        var offset = 0;

        try
        {
            if (!reader.Read())
            {
                return Fail(DecodeErrorCode.MalformedJson, "the value is empty", out error);
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return Fail(DecodeErrorCode.WrongType, $"the value must be a JSON object, not {JsonSampleArray.Describe(reader.TokenType)}", out error);
            }

            while (true)
            {
                if (!reader.Read())
                {
                    return Fail(DecodeErrorCode.MalformedJson, "the JSON object is truncated", out error);
                }

                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    break;
                }

                // Inside an object the reader only yields property names here.
                if (reader.ValueTextEquals("signal"u8))
                {
                    reader.Read();
                    var start = offset + (int)reader.TokenStartIndex;
                    if (fast && reader.TokenType == JsonTokenType.StartArray
                        && TryReadSamplesFast(json, start, 0, limits.MaxSamples, ref fields, out fields.SignalCount, out var end))
                    {
                        reader = ResumeAfterArray(json, end);
                        offset = end;
                    }
                    else if (!TryReadSamples(json, start, ref reader, "signal", 0, limits.MaxSamples, ref fields, out fields.SignalCount, out error))
                    {
                        return false;
                    }

                    fields.SignalJson = new Range(start, offset + (int)reader.BytesConsumed);
                }
                else if (output && reader.ValueTextEquals("filtered_signal"u8))
                {
                    reader.Read();
                    var start = offset + (int)reader.TokenStartIndex;
                    if (fast && reader.TokenType == JsonTokenType.StartArray
                        && TryReadSamplesFast(json, start, 1, limits.MaxSamples, ref fields, out fields.FilteredCount, out var end))
                    {
                        reader = ResumeAfterArray(json, end);
                        offset = end;
                    }
                    else if (!TryReadSamples(json, start, ref reader, "filtered_signal", 1, limits.MaxSamples, ref fields, out fields.FilteredCount, out error))
                    {
                        return false;
                    }
                }
                else if (reader.ValueTextEquals("stream_id"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return Fail(DecodeErrorCode.WrongType, $"stream_id must be a string, not {JsonSampleArray.Describe(reader.TokenType)}", out error);
                    }

                    // A key that is not UTF-8 is invalid-stream-id even when the body's stream_id holds the same bytes
                    // (equal, but unreadable: until 2026-12-06 that was malformed-json).
                    if (!key.IsEmpty && (!reader.ValueTextEquals(key) || !Utf8.IsValid(key)))
                    {
                        return !Utf8.IsValid(key) ? NotUtf8("the record key", key, out error) : Fail(DecodeErrorCode.StreamIdMismatch,
                            $"stream_id '{Printable(reader.GetString()!)}' differs from the record key '{Printable(key)}'", out error);
                    }

                    fields.StreamId = reader.GetString();
                }
                else if (reader.ValueTextEquals("seq"u8))
                {
                    reader.Read();
                    if (!TryReadInteger(ref reader, "seq", required: true, out var seq, out error))
                    {
                        return false;
                    }

                    fields.HasSeq = true;
                    fields.Seq = seq!.Value;
                }
                else if (reader.ValueTextEquals("timestamp_ms"u8))
                {
                    reader.Read();
                    if (!TryReadInteger(ref reader, "timestamp_ms", required: output, out fields.TimestampMs, out error))
                    {
                        return false;
                    }
                }
                else if (!output && reader.ValueTextEquals("sample_rate"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        fields.SampleRate = null;
                    }
                    else if (reader.TokenType != JsonTokenType.Number)
                    {
                        return Fail(DecodeErrorCode.WrongType, $"sample_rate must be a number, not {JsonSampleArray.Describe(reader.TokenType)}", out error);
                    }
                    else
                    {
                        // An overflowing literal (1e999) fails TryGetDouble; Validate reports it as a bad rate.
                        fields.SampleRate = reader.TryGetDouble(out var rate) ? rate : double.PositiveInfinity;
                    }
                }
                else if (output && reader.ValueTextEquals("algorithm"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return Fail(DecodeErrorCode.WrongType, $"algorithm must be a string, not {JsonSampleArray.Describe(reader.TokenType)}", out error);
                    }

                    fields.Algorithm = ReadAlgorithm(ref reader);
                }
                else if (output && reader.ValueTextEquals("processed_ms"u8))
                {
                    reader.Read();
                    if (!TryReadInteger(ref reader, "processed_ms", required: true, out fields.ProcessedMs, out error))
                    {
                        return false;
                    }
                }
                else
                {
                    // Unknown fields are ignored so producers can add some without breaking consumers.
                    reader.Read();
                    reader.Skip();
                }
            }

            // Throws on anything but whitespace after the object.
            reader.Read();
            error = default;
            return true;
        }
        catch (JsonException) when (offset > 0)
        {
            return TryReadJson(json, key, output, limits, ref fields, out error, fast: false);
        }
        catch (JsonException ex)
        {
            return Fail(DecodeErrorCode.MalformedJson, $"malformed JSON: {ex.Message}", out error);
        }
        catch (InvalidOperationException ex)
        {
            // GetString on text that is not valid UTF-8.
            return Fail(DecodeErrorCode.MalformedJson, $"malformed JSON: {ex.Message}", out error);
        }
    }

    /// <summary>The samples array at the reader (whose <c>[</c> is at <paramref name="start"/> in <paramref name="json"/>)
    /// by <see cref="JsonSampleArray"/>, its findings worded as decode errors.</summary>
    private static bool TryReadSamples(
        ReadOnlySpan<byte> json, int start, ref Utf8JsonReader reader, string name, int lane, int maxSamples, ref Fields fields,
        out int count, out DecodeError error)
    {
        var sink = new LaneSink(fields.Buffer, lane, maxSamples);
        JsonSampleArrayStatus status;
        try
        {
            status = JsonSampleArray.Read(ref reader, ref sink, out count);
        }
        catch (JsonException) when (StartsWithNonFiniteLiteral(json[EndOfNumbers(json, start, sink.Count)..], out var literal))
        {
            // A bare NaN/Infinity (as Python's json.dumps writes) is a syntax error to the reader: say what it is.
            count = -1;
            return Fail(DecodeErrorCode.NonFiniteSample, $"{name} contains {literal}; samples must be finite numbers", out error);
        }

        var n = count;
        error = default;
        switch (status)
        {
            case JsonSampleArrayStatus.Read:
                return true;
            case JsonSampleArrayStatus.NotAnArray:
                count = -1;
                return Fail(DecodeErrorCode.WrongType, $"{name} must be an array of numbers, not {JsonSampleArray.Describe(reader.TokenType)}", out error);
            case JsonSampleArrayStatus.Truncated:
                count = -1;
                return Fail(DecodeErrorCode.MalformedJson, $"{name} is truncated", out error);
            case JsonSampleArrayStatus.NotFinite:
                count = -1;
                return Fail(DecodeErrorCode.NonFiniteSample,
                    $"{name}[{n}] = {Printable(reader.ValueSpan)} is outside the range of a double", out error);
            case JsonSampleArrayStatus.TooMany:
                count = -1;
                return Fail(DecodeErrorCode.TooManySamples, $"{name} has more than the allowed {maxSamples} samples", out error);
            default:
                count = -1;
                return reader.TokenType == JsonTokenType.String
                       && (reader.ValueTextEquals("NaN"u8) || reader.ValueTextEquals("Infinity"u8) || reader.ValueTextEquals("-Infinity"u8))
                    ? Fail(DecodeErrorCode.NonFiniteSample, $"{name}[{n}] is \"{Printable(reader.GetString()!)}\"; samples must be finite numbers", out error)
                    : Fail(DecodeErrorCode.WrongType, $"{name}[{n}] must be a number, not {JsonSampleArray.Describe(reader.TokenType)}", out error);
        }
    }

    /// <summary>A lane of the decode buffer as <see cref="JsonSampleArray"/>'s sink, growing up to the sample limit.</summary>
    private ref struct LaneSink(SampleBuffer buffer, int lane, int maxSamples) : ISampleSink
    {
        private Span<double> _samples = buffer.Lane(lane);

        /// <summary>Samples added so far (still valid after the reader threw).</summary>
        public int Count { get; private set; }

        public bool TryAdd(double sample)
        {
            if (Count >= maxSamples)
            {
                return false;
            }

            if (Count == _samples.Length)
            {
                _samples = buffer.Grow(lane, Math.Min(maxSamples, Count + 1), Count);
            }

            _samples[Count++] = sample;
            return true;
        }
    }

    /// <summary>Where the reader stood when it failed after <paramref name="numbers"/> good samples: just after the last
    /// of them (or after the <c>[</c> at <paramref name="start"/>).</summary>
    private static int EndOfNumbers(ReadOnlySpan<byte> json, int start, int numbers)
    {
        var i = start + 1;
        for (var n = 0; n < numbers; n++)
        {
            while (json[i] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or (byte)',')
            {
                i++;
            }

            TryParseNumber(json, ref i, out _);
        }

        return i;
    }

    private static bool TryReadInteger(ref Utf8JsonReader reader, string name, bool required, out long? value, out DecodeError error)
    {
        value = null;
        error = default;
        if (reader.TokenType == JsonTokenType.Null && !required)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var number))
        {
            var what = reader.TokenType == JsonTokenType.Number
                ? Printable(reader.ValueSpan)
                : JsonSampleArray.Describe(reader.TokenType);
            return Fail(DecodeErrorCode.WrongType, $"{name} must be an integer, not {what}", out error);
        }

        value = number;
        return true;
    }

    /// <summary>The algorithm names the processor writes, without a string allocation per record.</summary>
    private static string ReadAlgorithm(ref Utf8JsonReader reader)
        => reader.ValueTextEquals("kalman"u8) ? "kalman"
            : reader.ValueTextEquals("rls"u8) ? "rls"
            : reader.ValueTextEquals("ls"u8) ? "ls"
            : reader.ValueTextEquals("lms"u8) ? "lms"
            : reader.GetString()!;

    private static bool StartsWithNonFiniteLiteral(ReadOnlySpan<byte> rest, out string literal)
    {
        rest = rest.TrimStart(" \t\r\n,"u8);
        literal = rest.StartsWith("NaN"u8) ? "NaN"
            : rest.StartsWith("Infinity"u8) ? "Infinity"
            : rest.StartsWith("-Infinity"u8) ? "-Infinity"
            : "";
        return literal.Length > 0;
    }
}
