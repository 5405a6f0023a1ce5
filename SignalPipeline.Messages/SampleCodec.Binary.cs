using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;
using Confluent.Kafka;

namespace SignalPipeline.Messages;

public static partial class SampleCodec
{
    private static void WriteSamples(ReadOnlySpan<double> samples, SampleFormat format, IBufferWriter<byte> output)
    {
        if (format == SampleFormat.Float64)
        {
            var bytes = samples.Length * sizeof(double);
            var span = output.GetSpan(bytes)[..bytes];
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(samples).CopyTo(span);
            }
            else
            {
                for (var i = 0; i < samples.Length; i++)
                {
                    BinaryPrimitives.WriteDoubleLittleEndian(span[(i * sizeof(double))..], samples[i]);
                }
            }

            output.Advance(bytes);
            return;
        }

        var length = samples.Length * sizeof(float);
        var target = output.GetSpan(length)[..length];
        for (var i = 0; i < samples.Length; i++)
        {
            var single = (float)samples[i];
            if (!float.IsFinite(single))
            {
                throw new ArgumentException($"Sample {i} = {samples[i]} is outside the float32 range.", nameof(samples));
            }

            BinaryPrimitives.WriteSingleLittleEndian(target[(i * sizeof(float))..], single);
        }

        output.Advance(length);
    }

    private static bool TryReadBinary(
        ReadOnlySpan<byte> value, ReadOnlySpan<byte> key, Headers headers, bool output, DecodeLimits limits, ref Fields fields, out DecodeError error)
    {
        if (!TryReadStreamId(key, headers, limits, ref fields, out error)
            || !TryReadHeader(headers, MessageHeaders.Seq, required: true, out long? seq, out error)
            || !TryReadHeader(headers, MessageHeaders.TimestampMs, required: output, out fields.TimestampMs, out error))
        {
            return false;
        }

        fields.HasSeq = true;
        fields.Seq = seq!.Value;
        if (output)
        {
            if (!TryReadHeader(headers, MessageHeaders.ProcessedMs, required: true, out fields.ProcessedMs, out error))
            {
                return false;
            }

            if (!headers.TryGetLastBytes(MessageHeaders.Algorithm, out var algorithm) || algorithm is null)
            {
                return Fail(DecodeErrorCode.MissingField, $"header '{MessageHeaders.Algorithm}' is missing", out error);
            }

            if (algorithm.Length > limits.MaxAlgorithmBytes)
            {
                return Fail(DecodeErrorCode.InvalidAlgorithm,
                    $"algorithm must be at most {limits.MaxAlgorithmBytes} UTF-8 bytes, was {algorithm.Length}", out error);
            }

            if (!Utf8.IsValid(algorithm))
            {
                return Fail(DecodeErrorCode.InvalidHeader, $"header '{MessageHeaders.Algorithm}' is not valid UTF-8", out error);
            }

            fields.Algorithm = Encoding.UTF8.GetString(algorithm);
        }
        else if (headers.TryGetLastBytes(MessageHeaders.SampleRate, out var rateBytes) && rateBytes is not null)
        {
            if (!TryParseHeaderNumber(rateBytes, out var rate))
            {
                return Fail(DecodeErrorCode.InvalidHeader,
                    $"header '{MessageHeaders.SampleRate}' = '{Printable(rateBytes)}' is not a number (a JSON number: 8000, 44100.5, 4.41e4)", out error);
            }

            fields.SampleRate = rate;
        }

        var sampleSize = fields.Format == SampleFormat.Float64 ? sizeof(double) : sizeof(float);
        var signals = output ? 2 : 1;
        if (value.IsEmpty)
        {
            return Fail(DecodeErrorCode.EmptySignal, "signal has no samples (the value is empty)", out error);
        }

        if (value.Length % (sampleSize * signals) != 0)
        {
            var unit = output ? $"{sampleSize * signals} (a raw and a filtered {sampleSize}-byte sample)" : $"{sampleSize} ({ContentTypes.For(fields.Format)})";
            return Fail(DecodeErrorCode.InvalidBinaryLength, $"value length {value.Length} is not a multiple of {unit}", out error);
        }

        var count = value.Length / (sampleSize * signals);
        if (count > limits.MaxSamples)
        {
            return Fail(DecodeErrorCode.TooManySamples, $"signal has {count} samples, more than the allowed {limits.MaxSamples}", out error);
        }

        var signalBytes = count * sampleSize;
        if (!TryReadSamples(value[..signalBytes], fields.Format, fields.Buffer.Grow(0, count, 0).AsSpan(0, count), "signal", out error))
        {
            return false;
        }

        fields.SignalCount = count;
        if (output)
        {
            if (!TryReadSamples(value[signalBytes..], fields.Format, fields.Buffer.Grow(1, count, 0).AsSpan(0, count), "filtered_signal", out error))
            {
                return false;
            }

            fields.FilteredCount = count;
        }

        return true;
    }

    private static bool TryReadSamples(ReadOnlySpan<byte> bytes, SampleFormat format, Span<double> samples, string name, out DecodeError error)
    {
        if (format == SampleFormat.Float64)
        {
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.Cast<byte, double>(bytes).CopyTo(samples);
            }
            else
            {
                for (var i = 0; i < samples.Length; i++)
                {
                    samples[i] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[(i * sizeof(double))..]);
                }
            }
        }
        else if (BitConverter.IsLittleEndian)
        {
            var singles = MemoryMarshal.Cast<byte, float>(bytes);
            for (var i = 0; i < samples.Length; i++)
            {
                samples[i] = singles[i];
            }
        }
        else
        {
            for (var i = 0; i < samples.Length; i++)
            {
                samples[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * sizeof(float))..]);
            }
        }

        var bad = IndexOfNonFinite(samples);
        if (bad >= 0)
        {
            return Fail(DecodeErrorCode.NonFiniteSample, $"{name}[{bad}] is {samples[bad]}; samples must be finite numbers", out error);
        }

        error = default;
        return true;
    }

    /// <summary>The stream id comes from the <c>stream-id</c> header or, when absent, the key; both set must agree.</summary>
    private static bool TryReadStreamId(ReadOnlySpan<byte> key, Headers headers, DecodeLimits limits, ref Fields fields, out DecodeError error)
    {
        ReadOnlySpan<byte> id = key;
        var fromHeader = false;
        if (headers.TryGetLastBytes(MessageHeaders.StreamId, out var header) && header is not null)
        {
            if (!key.IsEmpty && !key.SequenceEqual(header))
            {
                // Bytes that are not UTF-8 name no stream, so they cannot name another one: invalid, not a mismatch.
                return !Utf8.IsValid(key) ? NotUtf8("the record key", key, out error)
                    : !Utf8.IsValid(header) ? NotUtf8($"the '{MessageHeaders.StreamId}' header", header, out error)
                    : Fail(DecodeErrorCode.StreamIdMismatch,
                        $"header '{MessageHeaders.StreamId}' = '{Printable(header)}' differs from the record key '{Printable(key)}'", out error);
            }

            id = header;
            fromHeader = true;
        }

        if (id.IsEmpty)
        {
            return Fail(DecodeErrorCode.MissingField, $"the stream id is missing (no record key and no '{MessageHeaders.StreamId}' header)", out error);
        }

        if (id.Length > limits.MaxStreamIdBytes)
        {
            return Fail(DecodeErrorCode.InvalidStreamId,
                $"the stream id must be 1 to {limits.MaxStreamIdBytes} bytes of valid UTF-8, was {id.Length} bytes", out error);
        }

        if (!Utf8.IsValid(id))
        {
            return NotUtf8(fromHeader ? $"the '{MessageHeaders.StreamId}' header" : "the record key", id, out error);
        }

        fields.StreamId = Encoding.UTF8.GetString(id);
        error = default;
        return true;
    }

    private static bool TryReadHeader(Headers headers, string name, bool required, out long? value, out DecodeError error)
    {
        value = null;
        error = default;
        if (!headers.TryGetLastBytes(name, out var bytes) || bytes is null)
        {
            return !required || Fail(DecodeErrorCode.MissingField, $"header '{name}' is missing", out error);
        }

        if (!TryParseHeaderInteger(bytes, out var number))
        {
            return Fail(DecodeErrorCode.InvalidHeader,
                $"header '{name}' = '{Printable(bytes)}' is not an integer (a JSON integer within 64 bits: digits, an optional '-' before them, no leading zero)", out error);
        }

        value = number;
        return true;
    }

    /// <summary>
    /// A JSON integer (RFC 8259: <c>-?(0|[1-9][0-9]*)</c>, as <c>seq</c> is in a JSON chunk) within the range of a long.
    /// Not <c>long.TryParse</c>, which also takes a '+', leading zeros and trailing NUL characters, so that a binary header
    /// means what the same text means in JSON and nothing else (docs/messages.md, "Choosing the form").
    /// </summary>
    private static bool TryParseHeaderInteger(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        var negative = !text.IsEmpty && text[0] == (byte)'-';
        var digits = negative ? text[1..] : text;
        // 19 digits fit a ulong (10^19 - 1 < 2^64), so the sum below cannot wrap; more never fit a long.
        if (digits.IsEmpty || digits.Length > 19 || (digits[0] == (byte)'0' && digits.Length > 1))
        {
            return false;
        }

        var magnitude = 0UL;
        foreach (var b in digits)
        {
            var digit = (uint)b - '0';
            if (digit > 9)
            {
                return false;
            }

            magnitude = magnitude * 10 + digit;
        }

        // long.MinValue's magnitude is one more than long.MaxValue.
        if (magnitude > (negative ? (ulong)long.MaxValue + 1 : long.MaxValue))
        {
            return false;
        }

        value = negative ? unchecked((long)(0 - magnitude)) : (long)magnitude;
        return true;
    }

    /// <summary>
    /// A JSON number (RFC 8259), read by the JSON samples' parser (<see cref="TryParseNumber"/>, correctly rounded; 1e999
    /// reads as infinity, which the chunk's check refuses as <c>invalid-sample-rate</c>), or one of the literals a JSON chunk
    /// may carry for a non-finite sample (<c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c>), read as what they name so that
    /// they too are <c>invalid-sample-rate</c>. Not <c>double.TryParse</c> with <c>NumberStyles.Float</c>, which also
    /// takes white space, a '+', <c>.5</c>, <c>5.</c> and any case of the literals.
    /// </summary>
    private static bool TryParseHeaderNumber(ReadOnlySpan<byte> text, out double value)
    {
        var end = 0;
        if (TryParseNumber(text, ref end, out value) && end == text.Length)
        {
            return true;
        }

        value = text.SequenceEqual("NaN"u8) ? double.NaN
            : text.SequenceEqual("Infinity"u8) ? double.PositiveInfinity
            : text.SequenceEqual("-Infinity"u8) ? double.NegativeInfinity
            : 0;
        return !double.IsFinite(value);
    }

    private static byte[] FormatHeader(long value)
    {
        Span<byte> text = stackalloc byte[20];
        value.TryFormat(text, out var written, default, CultureInfo.InvariantCulture);
        return text[..written].ToArray();
    }

    // ShortestDouble, not "R": .NET's text for a few doubles (2^-958) parses back to a neighbour.
    private static byte[] FormatHeader(double value)
    {
        Span<byte> text = stackalloc byte[ShortestDouble.BufferLength];
        return text[..ShortestDouble.Format(value, text)].ToArray();
    }

    /// <summary>Index of the first NaN or infinity, or -1. x - x is 0 for finite x and NaN otherwise.</summary>
    private static int IndexOfNonFinite(ReadOnlySpan<double> samples)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && samples.Length >= Vector<double>.Count)
        {
            var vectors = MemoryMarshal.Cast<double, Vector<double>>(samples);
            for (; i < vectors.Length; i++)
            {
                var v = vectors[i];
                if (!Vector.EqualsAll(v - v, Vector<double>.Zero))
                {
                    break;
                }
            }

            i *= Vector<double>.Count;
        }

        for (; i < samples.Length; i++)
        {
            if (!double.IsFinite(samples[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
