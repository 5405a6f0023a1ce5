using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using csFastFloat;

namespace SignalPipeline.Messages;

public static partial class SampleCodec
{
    /// <summary>
    /// A reader state equal to "a value inside the top-level object just ended": the decoder resumes with it after it
    /// has parsed a samples array itself (<see cref="TryReadSamplesFast"/>).
    /// </summary>
    private static readonly JsonReaderState AfterArrayState = StateAfter("{\"a\":[]"u8, tokens: 4);

    private static JsonReaderState StateAfter(ReadOnlySpan<byte> json, int tokens)
    {
        var reader = new Utf8JsonReader(json, isFinalBlock: false, new JsonReaderState(ReaderOptions));
        for (var i = 0; i < tokens; i++)
        {
            reader.Read();
        }

        return reader.CurrentState;
    }

    /// <summary>A reader over what follows a samples array parsed by <see cref="TryReadSamplesFast"/>.</summary>
    private static Utf8JsonReader ResumeAfterArray(ReadOnlySpan<byte> json, int end)
        => new(json[end..], isFinalBlock: true, AfterArrayState);

    /// <summary>
    /// The common case of a samples array (<c>[n, n, ...]</c> of plain finite JSON numbers) parsed straight from the
    /// bytes in one pass per number: the JSON number grammar is checked while its digits are gathered (eight at a time),
    /// and <see cref="DecimalToDouble"/> rounds them (correctly: the same double as <see cref="Utf8JsonReader.TryGetDouble"/>;
    /// the rare number it cannot decide, or one of more than 19 digits, goes to csFastFloat). Anything else (an empty
    /// array, a string, NaN, a number out of range, too many samples, bad syntax) returns false without an error, and
    /// the reader's path runs and names what is wrong.
    /// </summary>
    // json: the whole value; start: index of the array's '['; end: index just after its ']'; count: samples in lane.
    private static bool TryReadSamplesFast(ReadOnlySpan<byte> json, int start, int lane, int maxSamples, ref Fields fields, out int count, out int end)
    {
        (count, end) = (0, 0);
        var samples = fields.Buffer.Lane(lane);
        var i = start + 1;
        var n = 0;
        while (true)
        {
            i = SkipWhitespace(json, i);
            if (!TryParseNumber(json, ref i, out var sample) || !double.IsFinite(sample) || n >= maxSamples)
            {
                return false;
            }

            if (n == samples.Length)
            {
                samples = fields.Buffer.Grow(lane, Math.Min(maxSamples, n + 1), n);
            }

            samples[n++] = sample;
            if ((uint)i < (uint)json.Length && json[i] == (byte)',')
            {
                // What the encoder writes: no whitespace.
                i++;
                continue;
            }

            i = SkipWhitespace(json, i);
            if (i >= json.Length)
            {
                return false;
            }

            if (json[i] == (byte)']')
            {
                (count, end) = (n, i + 1);
                return true;
            }

            if (json[i] != (byte)',')
            {
                return false;
            }

            i++;
        }
    }

    /// <summary>Longer number texts are read by .NET's parser (see <see cref="TryParseNumber"/>); a double needs at most 25 characters.</summary>
    private const int LongNumberBytes = 1024;

    /// <summary>
    /// The JSON number (RFC 8259: <c>-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?</c>) at <paramref name="position"/>
    /// and its value; <paramref name="position"/> moves past it. False when no JSON number starts there.
    /// </summary>
    private static bool TryParseNumber(ReadOnlySpan<byte> json, ref int position, out double value)
    {
        value = 0;
        var i = position;
        var negative = (uint)i < (uint)json.Length && json[i] == (byte)'-';
        i += negative ? 1 : 0;
        if ((uint)i >= (uint)json.Length)
        {
            return false;
        }

        var digitsStart = i;
        var w = 0UL;
        var first = (uint)json[i] - '0';
        if (first == 0)
        {
            i++;
        }
        else if (first <= 9)
        {
            i = ReadDigits(json, i, ref w);
        }
        else
        {
            return false;
        }

        var digits = i - digitsStart;
        var fractionDigits = 0;
        if ((uint)i < (uint)json.Length && json[i] == (byte)'.')
        {
            var fractionStart = i + 1;
            i = ReadDigits(json, fractionStart, ref w);
            fractionDigits = i - fractionStart;
            if (fractionDigits == 0)
            {
                return false;
            }
        }

        var exponent = 0L;
        if ((uint)i < (uint)json.Length && (json[i] | 0x20) == (byte)'e')
        {
            i++;
            var negativeExponent = false;
            if ((uint)i < (uint)json.Length && json[i] is (byte)'+' or (byte)'-')
            {
                negativeExponent = json[i] == (byte)'-';
                i++;
            }

            var exponentStart = i;
            uint digit;
            while ((uint)i < (uint)json.Length && (digit = (uint)json[i] - '0') <= 9)
            {
                // Saturates: beyond a few hundred the result is 0 or infinity anyway.
                exponent = exponent < 100_000 ? exponent * 10 + digit : exponent;
                i++;
            }

            if (i == exponentStart)
            {
                return false;
            }

            exponent = negativeExponent ? -exponent : exponent;
        }

        var text = json[position..i];
        position = i;
        if (text.Length > LongNumberBytes)
        {
            // Both fast paths saturate the exponent they read (this loop at 100,000, csFastFloat likewise), which is
            // exact for a number of usual length but not for one whose many zeros make up for a larger exponent:
            // "0." + a million zeros + "1e1000010" is 1e9, and read as 0 until 2026-12-06. .NET's parser keeps the scale.
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }

        if ((digits + fractionDigits <= 19 || SignificantDigits(text) <= 19)
            && DecimalToDouble.TryConvert(negative, w, exponent - fractionDigits, out value))
        {
            return true;
        }

        return FastDoubleParser.TryParseDouble(text, out var consumed, out value) && consumed == text.Length;
    }

    /// <summary>Appends the decimal digits at <paramref name="i"/> to <paramref name="w"/> (wrapping past 19 digits; the
    /// caller counts them) and returns the index after them.</summary>
    private static int ReadDigits(ReadOnlySpan<byte> json, int i, ref ulong w)
    {
        while (i + 8 <= json.Length)
        {
            var eight = BinaryPrimitives.ReadUInt64LittleEndian(json.Slice(i, 8));
            if (((eight & 0xF0F0F0F0F0F0F0F0) | (((eight + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) >> 4)) != 0x3333333333333333)
            {
                break;
            }

            // Eight ASCII digits to their value in three multiplications (fast_float's parse_eight_digits_unrolled).
            eight -= 0x3030303030303030;
            eight = (eight * 10) + (eight >> 8);
            eight = (((eight & 0x000000FF000000FF) * 0x000F424000000064) + (((eight >> 16) & 0x000000FF000000FF) * 0x0000271000000001)) >> 32;
            w = w * 100_000_000 + (uint)eight;
            i += 8;
        }

        uint digit;
        while ((uint)i < (uint)json.Length && (digit = (uint)json[i] - '0') <= 9)
        {
            w = w * 10 + digit;
            i++;
        }

        return i;
    }

    /// <summary>Digits of a JSON number's text from its first non-zero one up to the exponent.</summary>
    private static int SignificantDigits(ReadOnlySpan<byte> text)
    {
        var count = 0;
        foreach (var c in text)
        {
            if (c is (byte)'e' or (byte)'E')
            {
                break;
            }

            if (c is >= (byte)'0' and <= (byte)'9' && (count > 0 || c != (byte)'0'))
            {
                count++;
            }
        }

        return count;
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
        {
            i++;
        }

        return i;
    }
}
