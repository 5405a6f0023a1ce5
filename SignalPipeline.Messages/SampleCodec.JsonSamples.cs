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
    /// bytes: the JSON number grammar is checked here, the value comes from csFastFloat (correctly rounded: the same
    /// double as <see cref="Utf8JsonReader.TryGetDouble"/>), which together cost about a third of tokenising with the
    /// reader and parsing with the BCL. Anything else (an empty array, a string, NaN, a number out of range, too many
    /// samples, bad syntax) returns false without an error, and the reader's path runs and names what is wrong.
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
            var numberEnd = ScanNumber(json, i);
            if (numberEnd < 0
                || !FastDoubleParser.TryParseDouble(json[i..numberEnd], out var consumed, out var sample)
                || consumed != numberEnd - i || !double.IsFinite(sample))
            {
                return false;
            }

            if (n >= maxSamples)
            {
                return false;
            }

            if (n == samples.Length)
            {
                samples = fields.Buffer.Grow(lane, Math.Min(maxSamples, n + 1), n);
            }

            samples[n++] = sample;
            i = SkipWhitespace(json, numberEnd);
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

    private static int SkipWhitespace(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
        {
            i++;
        }

        return i;
    }

    /// <summary>End of the JSON number (RFC 8259: <c>-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?</c>) at <paramref name="i"/>, or -1.</summary>
    private static int ScanNumber(ReadOnlySpan<byte> json, int i)
    {
        if (i < json.Length && json[i] == (byte)'-')
        {
            i++;
        }

        if (i >= json.Length)
        {
            return -1;
        }

        if (json[i] == (byte)'0')
        {
            i++;
        }
        else if (json[i] is >= (byte)'1' and <= (byte)'9')
        {
            i = SkipDigits(json, i + 1);
        }
        else
        {
            return -1;
        }

        if (i < json.Length && json[i] == (byte)'.')
        {
            var digits = SkipDigits(json, i + 1);
            if (digits == i + 1)
            {
                return -1;
            }

            i = digits;
        }

        if (i < json.Length && json[i] is (byte)'e' or (byte)'E')
        {
            i++;
            if (i < json.Length && json[i] is (byte)'+' or (byte)'-')
            {
                i++;
            }

            var digits = SkipDigits(json, i);
            if (digits == i)
            {
                return -1;
            }

            i = digits;
        }

        return i;
    }

    private static int SkipDigits(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is >= (byte)'0' and <= (byte)'9')
        {
            i++;
        }

        return i;
    }
}
