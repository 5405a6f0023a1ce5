using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Unicode;
using CommunityToolkit.HighPerformance;
using Confluent.Kafka;

namespace SignalPipeline.Messages;

/// <summary>
/// The one codec for <c>sample-input</c> (<see cref="SampleChunk"/>) and <c>sample-output</c> (<see cref="FilteredChunk"/>)
/// records, JSON and binary (docs/messages.md). Decoding never throws on bad input: it returns <c>false</c> with a
/// <see cref="DecodeError"/> naming what is wrong, so a consumer can dead-letter the record and go on.
/// Encoding throws <see cref="ArgumentException"/> for a chunk that would not decode (empty, NaN, negative seq).
/// </summary>
public static partial class SampleCodec
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_value;

    [ThreadStatic]
    private static SampleBuffer? t_scratch;

    /// <summary>
    /// Reads the <c>content-type</c> header: <see cref="SampleFormat.Json"/> when absent; media-type parameters
    /// (<c>; charset=utf-8</c>) and case are ignored.
    /// </summary>
    public static bool TryGetFormat(Headers? headers, out SampleFormat format, out DecodeError error)
    {
        format = SampleFormat.Json;
        error = default;
        if (headers is null || !headers.TryGetLastBytes(MessageHeaders.ContentType, out var bytes) || bytes is null)
        {
            return true;
        }

        ReadOnlySpan<byte> type = bytes;
        var semicolon = type.IndexOf((byte)';');
        if (semicolon >= 0)
        {
            type = type[..semicolon];
        }

        type = type.Trim((byte)' ');
        if (Ascii.EqualsIgnoreCase(type, "application/json"u8))
        {
            return true;
        }

        if (Ascii.EqualsIgnoreCase(type, "application/x-samples-f64"u8))
        {
            format = SampleFormat.Float64;
            return true;
        }

        if (Ascii.EqualsIgnoreCase(type, "application/x-samples-f32"u8))
        {
            format = SampleFormat.Float32;
            return true;
        }

        error = new(DecodeErrorCode.UnknownContentType,
            $"{MessageHeaders.ContentType} '{Printable(bytes)}' is not one of {ContentTypes.Json}, {ContentTypes.Float64}, {ContentTypes.Float32}");
        return false;
    }

    /// <summary>
    /// Writes <paramref name="chunk"/>'s value in <see cref="SampleChunk.Format"/> to <paramref name="value"/> and adds
    /// <c>content-type</c> (and, for binary, the metadata headers) to <paramref name="headers"/>.
    /// The Kafka key is <see cref="SampleChunk.StreamId"/> in UTF-8.
    /// </summary>
    public static void Encode(SampleChunk chunk, IBufferWriter<byte> value, Headers headers)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(headers);
        CheckEncodable(chunk.StreamId, chunk.Seq, chunk.Signal.Span, nameof(SampleChunk.Signal));
        if (chunk.SampleRate is { } rate && !(double.IsFinite(rate) && rate > 0))
        {
            throw new ArgumentException($"SampleRate must be a positive finite number, was {rate}.", nameof(chunk));
        }

        if (chunk.TimestampMs is < 0)
        {
            throw new ArgumentException($"TimestampMs must be >= 0, was {chunk.TimestampMs}.", nameof(chunk));
        }

        headers.Add(MessageHeaders.ContentType, ContentTypeBytes(chunk.Format));
        if (chunk.Format == SampleFormat.Json)
        {
            WriteJson(chunk, value);
            return;
        }

        headers.Add(MessageHeaders.StreamId, Encoding.UTF8.GetBytes(chunk.StreamId));
        headers.Add(MessageHeaders.Seq, FormatHeader(chunk.Seq));
        if (chunk.SampleRate is { } sampleRate)
        {
            headers.Add(MessageHeaders.SampleRate, FormatHeader(sampleRate));
        }

        if (chunk.TimestampMs is { } timestamp)
        {
            headers.Add(MessageHeaders.TimestampMs, FormatHeader(timestamp));
        }

        WriteSamples(chunk.Signal.Span, chunk.Format, value);
    }

    /// <summary>
    /// Writes <paramref name="chunk"/>'s value in <see cref="FilteredChunk.Format"/> to <paramref name="value"/> and adds
    /// <c>content-type</c> (and, for binary, the metadata headers) to <paramref name="headers"/>. The binary value is all
    /// raw samples followed by all filtered samples.
    /// </summary>
    public static void Encode(FilteredChunk chunk, IBufferWriter<byte> value, Headers headers)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(headers);
        CheckEncodable(chunk.StreamId, chunk.Seq, chunk.Signal.Span, nameof(FilteredChunk.Signal));
        CheckFinite(chunk.FilteredSignal.Span, nameof(FilteredChunk.FilteredSignal));
        if (chunk.FilteredSignal.Length != chunk.Signal.Length)
        {
            throw new ArgumentException(
                $"FilteredSignal has {chunk.FilteredSignal.Length} samples but Signal has {chunk.Signal.Length}.", nameof(chunk));
        }

        if (string.IsNullOrEmpty(chunk.Algorithm) || Encoding.UTF8.GetByteCount(chunk.Algorithm) > DecodeLimits.Default.MaxAlgorithmBytes)
        {
            throw new ArgumentException($"Algorithm must be 1 to {DecodeLimits.Default.MaxAlgorithmBytes} UTF-8 bytes.", nameof(chunk));
        }

        if (chunk.TimestampMs < 0 || chunk.ProcessedMs < 0)
        {
            throw new ArgumentException($"TimestampMs and ProcessedMs must be >= 0, were {chunk.TimestampMs} and {chunk.ProcessedMs}.", nameof(chunk));
        }

        headers.Add(MessageHeaders.ContentType, ContentTypeBytes(chunk.Format));
        if (chunk.Format == SampleFormat.Json)
        {
            WriteJson(chunk, value);
            return;
        }

        headers.Add(MessageHeaders.StreamId, Encoding.UTF8.GetBytes(chunk.StreamId));
        headers.Add(MessageHeaders.Seq, FormatHeader(chunk.Seq));
        headers.Add(MessageHeaders.Algorithm, Encoding.UTF8.GetBytes(chunk.Algorithm));
        headers.Add(MessageHeaders.TimestampMs, FormatHeader(chunk.TimestampMs));
        headers.Add(MessageHeaders.ProcessedMs, FormatHeader(chunk.ProcessedMs));
        WriteSamples(chunk.Signal.Span, chunk.Format, value);
        WriteSamples(chunk.FilteredSignal.Span, chunk.Format, value);
    }

    /// <summary>A ready-to-produce record: key = stream id (UTF-8), value and headers as <see cref="Encode(SampleChunk, IBufferWriter{byte}, Headers)"/>.</summary>
    public static Message<byte[], byte[]> ToMessage(SampleChunk chunk)
    {
        var headers = new Headers();
        var value = RentValueWriter();
        Encode(chunk, value, headers);
        return new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(chunk.StreamId), Value = Copy(value.WrittenSpan), Headers = headers };
    }

    /// <summary>A ready-to-produce record: key = stream id (UTF-8), value and headers as <see cref="Encode(FilteredChunk, IBufferWriter{byte}, Headers)"/>.</summary>
    public static Message<byte[], byte[]> ToMessage(FilteredChunk chunk) => ToMessage(chunk, spareValue: null);

    /// <summary>
    /// As <see cref="ToMessage(FilteredChunk)"/>, with the value written into <paramref name="spareValue"/> when that has
    /// the value's length exactly (a binary output's length is fixed by its sample count): for a caller that produces
    /// each record before it encodes the next, whose producer copies the value (Confluent.Kafka produces with
    /// librdkafka's copy flag) and whose delivery reports do not carry it. It saves one array of kilobytes a record.
    /// </summary>
    public static Message<byte[], byte[]> ToMessage(FilteredChunk chunk, byte[]? spareValue)
    {
        var headers = new Headers();
        var writer = RentValueWriter();
        Encode(chunk, writer, headers);
        byte[] value;
        if (spareValue?.Length == writer.WrittenCount)
        {
            writer.WrittenSpan.CopyTo(spareValue);
            value = spareValue;
        }
        else
        {
            value = Copy(writer.WrittenSpan);
        }

        return new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(chunk.StreamId), Value = value, Headers = headers };
    }

    /// <summary>
    /// The stream id a record key names, read as a chunk's stream id must be: 1 to
    /// <see cref="DecodeLimits.MaxStreamIdBytes"/> bytes of valid UTF-8. For the readers of topics keyed by stream id
    /// alone (<c>stream-config</c>): a key that fails names no stream a chunk can have, and read with U+FFFD for its bad
    /// bytes (<see cref="Encoding.UTF8"/>'s way) a key that is not UTF-8 would name another stream.
    /// </summary>
    /// <param name="key">The record key; null or empty means none.</param>
    /// <param name="streamId">The stream id when the method returns <c>true</c>.</param>
    /// <param name="problem">Why the key names no stream when the method returns <c>false</c>, e.g. <c>the record key is not valid UTF-8: 61FF</c>.</param>
    /// <param name="limits">Size limits; <see cref="DecodeLimits.Default"/> when null.</param>
    public static bool TryReadStreamKey(
        ReadOnlySpan<byte> key, [NotNullWhen(true)] out string? streamId, [NotNullWhen(false)] out string? problem, DecodeLimits? limits = null)
    {
        var max = (limits ?? DecodeLimits.Default).MaxStreamIdBytes;
        streamId = null;
        if (key.IsEmpty)
        {
            problem = "the record has no key (the stream id)";
        }
        else if (key.Length > max)
        {
            problem = $"the record key is {key.Length} bytes, over the {max} of a stream id";
        }
        else if (!Utf8.IsValid(key))
        {
            problem = NotUtf8Message("the record key", key);
        }
        else
        {
            (streamId, problem) = (Encoding.UTF8.GetString(key), null);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Decodes a <c>sample-input</c> record. <paramref name="key"/> may be empty; when set it must equal the stream id.
    /// </summary>
    /// <param name="key">The record key (the stream id in UTF-8); may be empty.</param>
    /// <param name="value">The record value.</param>
    /// <param name="headers">The record headers (<c>content-type</c>, and the metadata for the binary form); null means none.</param>
    /// <param name="chunk">The decoded chunk when the method returns <c>true</c>.</param>
    /// <param name="error">Why decoding failed when the method returns <c>false</c>.</param>
    /// <param name="buffer">Where the samples go: with a buffer the chunk's <see cref="SampleChunk.Signal"/> points into it
    /// (valid until its next use, nothing allocated per sample); without, the chunk gets its own array.</param>
    /// <param name="limits">Size limits; <see cref="DecodeLimits.Default"/> when null.</param>
    public static bool TryDecodeSampleChunk(
        ReadOnlySpan<byte> key,
        ReadOnlySpan<byte> value,
        Headers? headers,
        [NotNullWhen(true)] out SampleChunk? chunk,
        out DecodeError error,
        SampleBuffer? buffer = null,
        DecodeLimits? limits = null)
    {
        chunk = null;
        if (!TryDecode(key, value, headers, output: false, buffer ?? (t_scratch ??= new()), limits ?? DecodeLimits.Default, out var fields, out error))
        {
            return false;
        }

        chunk = Chunk(fields, Signal(fields, 0, buffer));
        return true;
    }

    /// <summary>
    /// As <see cref="TryDecodeSampleChunk(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Headers?, out SampleChunk?, out DecodeError, SampleBuffer?, DecodeLimits?)"/>
    /// without a buffer, except that a little-endian <c>float64</c> chunk's <see cref="SampleChunk.Signal"/> is
    /// <paramref name="value"/>'s own bytes read as doubles: nothing is allocated for the samples (a 256-sample chunk's
    /// copy was 2 KiB, and the allocation's slow path a visible share of the processor's time, docs/benchmarks.md). For a
    /// caller that keeps the record and never changes its value while the chunk is used (the processor: Confluent.Kafka
    /// gives each consumed record a value array of its own). JSON and <c>float32</c> chunks get their own array as before.
    /// </summary>
    public static bool TryDecodeSampleChunkOver(
        ReadOnlySpan<byte> key,
        byte[] value,
        Headers? headers,
        [NotNullWhen(true)] out SampleChunk? chunk,
        out DecodeError error,
        DecodeLimits? limits = null)
    {
        chunk = null;
        if (!TryDecode(key, value, headers, output: false, t_scratch ??= new(), limits ?? DecodeLimits.Default, out var fields, out error))
        {
            return false;
        }

        // The binary value is the samples alone (the metadata is in headers), so the signal is the value from byte 0.
        var signal = fields.Format == SampleFormat.Float64 && BitConverter.IsLittleEndian
            ? new ReadOnlyMemory<byte>(value, 0, fields.SignalCount * sizeof(double)).Cast<byte, double>()
            : Signal(fields, 0, callerBuffer: null);
        chunk = Chunk(fields, signal);
        return true;
    }

    private static SampleChunk Chunk(in Fields fields, ReadOnlyMemory<double> signal)
        => new(fields.StreamId!, fields.Seq, signal, fields.SampleRate, fields.TimestampMs)
        {
            Format = fields.Format,
            SignalJsonRange = fields.SignalJson,
        };

    /// <summary>
    /// Decodes a <c>sample-output</c> record. <paramref name="key"/> may be empty; when set it must equal the stream id.
    /// </summary>
    /// <param name="key">The record key (the stream id in UTF-8); may be empty.</param>
    /// <param name="value">The record value.</param>
    /// <param name="headers">The record headers (<c>content-type</c>, and the metadata for the binary form); null means none.</param>
    /// <param name="chunk">The decoded chunk when the method returns <c>true</c>.</param>
    /// <param name="error">Why decoding failed when the method returns <c>false</c>.</param>
    /// <param name="buffer">Where the samples go: with a buffer both signals point into it (valid until its next use);
    /// without, the chunk gets its own arrays.</param>
    /// <param name="limits">Size limits (per signal); <see cref="DecodeLimits.Default"/> when null.</param>
    public static bool TryDecodeFilteredChunk(
        ReadOnlySpan<byte> key,
        ReadOnlySpan<byte> value,
        Headers? headers,
        [NotNullWhen(true)] out FilteredChunk? chunk,
        out DecodeError error,
        SampleBuffer? buffer = null,
        DecodeLimits? limits = null)
    {
        chunk = null;
        if (!TryDecode(key, value, headers, output: true, buffer ?? (t_scratch ??= new()), limits ?? DecodeLimits.Default, out var fields, out error))
        {
            return false;
        }

        chunk = new FilteredChunk(
            fields.StreamId!, fields.Seq, fields.Algorithm!, Signal(fields, 0, buffer), Signal(fields, 1, buffer),
            fields.TimestampMs!.Value, fields.ProcessedMs!.Value)
        {
            Format = fields.Format,
        };
        return true;
    }

    /// <summary>What a decoder found; <see cref="SampleBuffer"/> lanes hold the samples.</summary>
    private struct Fields
    {
        public SampleFormat Format;
        public SampleBuffer Buffer;
        public string? StreamId;
        public bool HasSeq;
        public long Seq;
        public int SignalCount;
        public Range? SignalJson;
        public int FilteredCount;
        public double? SampleRate;
        public long? TimestampMs;
        public string? Algorithm;
        public long? ProcessedMs;
    }

    private static ReadOnlyMemory<double> Signal(in Fields fields, int lane, SampleBuffer? callerBuffer)
    {
        var count = lane == 0 ? fields.SignalCount : fields.FilteredCount;
        var memory = new ReadOnlyMemory<double>(fields.Buffer.Lane(lane), 0, count);
        return callerBuffer is null ? Copy(memory.Span) : memory;
    }

    /// <summary>
    /// <paramref name="span"/> in a new array the GC does not zero first (it is overwritten whole): a record's value and
    /// samples are kilobytes, and zeroing them was a visible share of the processor's time (docs/benchmarks.md).
    /// </summary>
    private static T[] Copy<T>(ReadOnlySpan<T> span)
    {
        var array = GC.AllocateUninitializedArray<T>(span.Length);
        span.CopyTo(array);
        return array;
    }

    private static bool TryDecode(
        ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, Headers? headers, bool output, SampleBuffer buffer, DecodeLimits limits,
        out Fields fields, out DecodeError error)
    {
        fields = new Fields { Buffer = buffer, SignalCount = -1, FilteredCount = -1 };
        if (!TryGetFormat(headers, out fields.Format, out error))
        {
            return false;
        }

        var read = fields.Format == SampleFormat.Json
            ? TryReadJson(value, key, output, limits, ref fields, out error)
            : TryReadBinary(value, key, headers!, output, limits, ref fields, out error);
        return read && Validate(output, limits, ref fields, out error);
    }

    /// <summary>Checks shared by both forms, after the fields were read.</summary>
    private static bool Validate(bool output, DecodeLimits limits, ref Fields fields, out DecodeError error)
    {
        error = default;
        if (fields.StreamId is null)
        {
            return Fail(DecodeErrorCode.MissingField, "stream_id is missing", out error);
        }

        if (fields.StreamId.Length == 0 || Encoding.UTF8.GetByteCount(fields.StreamId) > limits.MaxStreamIdBytes)
        {
            return Fail(DecodeErrorCode.InvalidStreamId,
                $"stream_id must be 1 to {limits.MaxStreamIdBytes} UTF-8 bytes, was {Encoding.UTF8.GetByteCount(fields.StreamId)}", out error);
        }

        if (!fields.HasSeq)
        {
            return Fail(DecodeErrorCode.MissingField, "seq is missing", out error);
        }

        if (fields.Seq < 0)
        {
            return Fail(DecodeErrorCode.NegativeSeq, $"seq must be >= 0, was {fields.Seq}", out error);
        }

        if (fields.SignalCount < 0)
        {
            return Fail(DecodeErrorCode.MissingField, "signal is missing", out error);
        }

        if (fields.SignalCount == 0)
        {
            return Fail(DecodeErrorCode.EmptySignal, "signal has no samples", out error);
        }

        if (fields.SampleRate is { } rate && !(double.IsFinite(rate) && rate > 0))
        {
            return Fail(DecodeErrorCode.InvalidSampleRate, $"sample_rate must be a positive number, was {rate}", out error);
        }

        if (fields.TimestampMs < 0)
        {
            return Fail(DecodeErrorCode.InvalidTimestamp, $"timestamp_ms must be >= 0, was {fields.TimestampMs}", out error);
        }

        if (!output)
        {
            return true;
        }

        if (fields.Algorithm is null)
        {
            return Fail(DecodeErrorCode.MissingField, "algorithm is missing", out error);
        }

        if (fields.Algorithm.Length == 0)
        {
            return Fail(DecodeErrorCode.InvalidAlgorithm, "algorithm must not be empty", out error);
        }

        if (Encoding.UTF8.GetByteCount(fields.Algorithm) is var algorithmBytes && algorithmBytes > limits.MaxAlgorithmBytes)
        {
            return Fail(DecodeErrorCode.InvalidAlgorithm,
                $"algorithm must be at most {limits.MaxAlgorithmBytes} UTF-8 bytes, was {algorithmBytes}", out error);
        }

        if (fields.FilteredCount < 0)
        {
            return Fail(DecodeErrorCode.MissingField, "filtered_signal is missing", out error);
        }

        if (fields.FilteredCount != fields.SignalCount)
        {
            return Fail(DecodeErrorCode.LengthMismatch,
                $"filtered_signal has {fields.FilteredCount} samples but signal has {fields.SignalCount}", out error);
        }

        if (fields.TimestampMs is null)
        {
            return Fail(DecodeErrorCode.MissingField, "timestamp_ms is missing", out error);
        }

        if (fields.ProcessedMs is null)
        {
            return Fail(DecodeErrorCode.MissingField, "processed_ms is missing", out error);
        }

        if (fields.ProcessedMs < 0)
        {
            return Fail(DecodeErrorCode.InvalidTimestamp, $"processed_ms must be >= 0, was {fields.ProcessedMs}", out error);
        }

        return true;
    }

    private static bool Fail(DecodeErrorCode code, string message, out DecodeError error)
    {
        error = new DecodeError(code, message);
        return false;
    }

    /// <summary>
    /// A stream id whose bytes are not UTF-8 is refused, not read with U+FFFD for its bad bytes: read so, two such ids would
    /// be one stream, and one would be the stream whose name has U+FFFD there.
    /// </summary>
    private static bool NotUtf8(string what, ReadOnlySpan<byte> id, out DecodeError error)
        => Fail(DecodeErrorCode.InvalidStreamId, NotUtf8Message(what, id), out error);

    private static string NotUtf8Message(string what, ReadOnlySpan<byte> id) => $"{what} is not valid UTF-8: {Printable(id)}";

    private static void CheckEncodable(string streamId, long seq, ReadOnlySpan<double> signal, string signalName)
    {
        if (string.IsNullOrEmpty(streamId))
        {
            throw new ArgumentException("StreamId must not be empty.", nameof(streamId));
        }

        // A UTF-8 character is at most 3 bytes per UTF-16 char: shorter ids cannot be over the limit, so most skip the count.
        var maxBytes = DecodeLimits.Default.MaxStreamIdBytes;
        if (streamId.Length > maxBytes / 3 && Encoding.UTF8.GetByteCount(streamId) is var bytes && bytes > maxBytes)
        {
            throw new ArgumentException($"StreamId is {bytes} UTF-8 bytes; decoders take at most {maxBytes}.", nameof(streamId));
        }

        if (seq < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(seq), seq, "Seq must be >= 0.");
        }

        if (signal.IsEmpty)
        {
            throw new ArgumentException($"{signalName} must not be empty.", nameof(signal));
        }

        CheckFinite(signal, signalName);
    }

    private static void CheckFinite(ReadOnlySpan<double> samples, string name)
    {
        var bad = IndexOfNonFinite(samples);
        if (bad >= 0)
        {
            throw new ArgumentException($"{name}[{bad}] is {samples[bad]}; samples must be finite.", name);
        }
    }

    private static ArrayBufferWriter<byte> RentValueWriter()
    {
        var writer = t_value ??= new ArrayBufferWriter<byte>(4096);
        writer.ResetWrittenCount();
        return writer;
    }

    private static readonly byte[] JsonType = Encoding.ASCII.GetBytes(ContentTypes.Json);
    private static readonly byte[] Float64Type = Encoding.ASCII.GetBytes(ContentTypes.Float64);
    private static readonly byte[] Float32Type = Encoding.ASCII.GetBytes(ContentTypes.Float32);

    private static byte[] ContentTypeBytes(SampleFormat format) => format switch
    {
        SampleFormat.Json => JsonType,
        SampleFormat.Float64 => Float64Type,
        SampleFormat.Float32 => Float32Type,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown sample format."),
    };

    /// <summary>Input quoted in an error message: at most 64 bytes (whole UTF-8 characters; hexadecimal when not UTF-8), then "...".</summary>
    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        // Cut before a character that straddles the limit, so that UTF-8 text shows as text.
        var cut = Math.Min(bytes.Length, MaxQuoted);
        for (var back = 0; back < 3 && cut < bytes.Length && cut > 0 && (bytes[cut] & 0xC0) == 0x80; back++)
        {
            cut--;
        }

        var shown = bytes[..cut];
        var text = Utf8.IsValid(shown) ? Encoding.UTF8.GetString(shown) : Convert.ToHexString(shown);
        return bytes.Length > shown.Length ? text + "..." : text;
    }

    /// <summary>Input text quoted in an error message: at most 64 characters, then "...".</summary>
    private static string Printable(string text)
    {
        if (text.Length <= MaxQuoted)
        {
            return text;
        }

        var cut = char.IsHighSurrogate(text[MaxQuoted - 1]) ? MaxQuoted - 1 : MaxQuoted;
        return string.Concat(text.AsSpan(0, cut), "...");
    }

    private const int MaxQuoted = 64;
}
