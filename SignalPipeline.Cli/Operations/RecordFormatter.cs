using System.Buffers;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using SignalPipeline.Messages;

namespace SignalPipeline.Cli.Operations;

/// <summary>What one record is, decoded with the project's codec: a filtered chunk, an input chunk, or neither.</summary>
public sealed record DecodedRecord(ConsumeResult<byte[], byte[]> Record, FilteredChunk? Filtered, SampleChunk? Input, DecodeError? Error)
{
    /// <summary>The record's key as text (the stream id), or null when it has none.</summary>
    public string? Key => Record.Message.Key is { } key ? Encoding.UTF8.GetString(key) : null;

    /// <summary>The stream id: the decoded chunk's, else the key.</summary>
    public string? StreamId => Filtered?.StreamId ?? Input?.StreamId ?? Key;

    /// <summary>True when the record carries dead-letter headers (<c>dlq-error-code</c>).</summary>
    public bool IsDeadLetter => Header(MessageHeaders.DeadLetterErrorCode) is not null;

    public string? Header(string name)
        => Record.Message.Headers is { } headers && headers.TryGetLastBytes(name, out var bytes) && bytes is not null
            ? Encoding.UTF8.GetString(bytes)
            : null;

    /// <summary>Tries the output form first (it has the extra fields), then the input form.</summary>
    public static DecodedRecord Decode(ConsumeResult<byte[], byte[]> record)
    {
        var limits = new DecodeLimits { MaxSamples = 1 << 24 };
        var key = record.Message.Key;
        var value = record.Message.Value ?? [];
        if (SampleCodec.TryDecodeFilteredChunk(key, value, record.Message.Headers, out var filtered, out _, limits: limits))
        {
            return new DecodedRecord(record, filtered, null, null);
        }

        return SampleCodec.TryDecodeSampleChunk(key, value, record.Message.Headers, out var input, out var error, limits: limits)
            ? new DecodedRecord(record, null, input, null)
            : new DecodedRecord(record, null, null, error);
    }
}

/// <summary>Readable text for a record: one summary line, then the first samples; dead letters show why.</summary>
public static class RecordFormatter
{
    private static readonly long MinUnixMs = DateTimeOffset.MinValue.ToUnixTimeMilliseconds();
    private static readonly long MaxUnixMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds();

    /// <summary>What <see cref="Printable"/> escapes: the backslash, then everything a terminal acts on instead of showing.</summary>
    private static readonly SearchValues<char> Escaped = SearchValues.Create(
        [
            '\\',
            .. Enumerable.Range(0x00, 0x20).Select(c => (char)c), // C0, \n \r \t and ESC included
            .. Enumerable.Range(0x7F, 0x21).Select(c => (char)c), // DEL and C1 (0x9B is a one-character CSI)
            '\u061C', '\u200E', '\u200F', // bidirectional marks
            .. Enumerable.Range(0x2028, 7).Select(c => (char)c), // line and paragraph separators, bidi embeddings and overrides
            .. Enumerable.Range(0x2066, 4).Select(c => (char)c), // bidi isolates
        ]);

    /// <summary>
    /// The record's text. Never throws: a record that cannot be shown is one line naming it and why, since a tail
    /// reads what any producer wrote and one odd record must not end it.
    /// </summary>
    public static string Format(DecodedRecord decoded, int samplesShown)
    {
        try
        {
            return Describe(decoded, samplesShown);
        }
        catch (Exception ex)
        {
            var record = decoded.Record;
            return string.Create(CultureInfo.InvariantCulture,
                $"{record.Topic}/{record.Partition.Value}@{record.Offset.Value}  not shown: {ex.GetType().Name}: {Printable(ex.Message)}");
        }
    }

    private static string Describe(DecodedRecord decoded, int samplesShown)
    {
        var record = decoded.Record;
        var text = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"{record.Topic}/{record.Partition.Value}@{record.Offset.Value}  ")
            .Append(CultureInfo.InvariantCulture, $"{Timestamp(record.Message.Timestamp.UnixTimestampMs)}  key={(decoded.Key is { } key ? Printable(key) : "(none)")}");
        if (decoded.Header(DlqReplayCommand.ReplayedHeader) is { } replayed)
        {
            return text.Append(CultureInfo.InvariantCulture, $"  REPLAY MARKER: the dead letter at {record.Topic}/{Printable(replayed)} was replayed").ToString();
        }

        if (decoded.IsDeadLetter)
        {
            string Shown(string header) => Printable(decoded.Header(header));
            text.Append(CultureInfo.InvariantCulture, $"  DEAD LETTER {Shown(MessageHeaders.DeadLetterErrorCode)}: {Shown(MessageHeaders.DeadLetterReason)}")
                .Append(CultureInfo.InvariantCulture, $"  (from {Shown(MessageHeaders.DeadLetterSourceTopic)}/{Shown(MessageHeaders.DeadLetterSourcePartition)}@{Shown(MessageHeaders.DeadLetterSourceOffset)})");
        }

        if (decoded.Filtered is { } output)
        {
            text.Append(CultureInfo.InvariantCulture, $"  seq={output.Seq}  {Printable(output.Algorithm)}  {Form(output.Format)}  {Counted.Of(output.Signal.Length, "sample")}")
                .Append(CultureInfo.InvariantCulture, $"  latency={output.ProcessedMs - output.TimestampMs} ms")
                .Append('\n').Append("  signal:   ").Append(Samples(output.Signal.Span, samplesShown))
                .Append('\n').Append("  filtered: ").Append(Samples(output.FilteredSignal.Span, samplesShown));
        }
        else if (decoded.Input is { } input)
        {
            text.Append(CultureInfo.InvariantCulture, $"  seq={input.Seq}  {Form(input.Format)}  {Counted.Of(input.Signal.Length, "sample")}");
            if (input.SampleRate is { } rate)
            {
                text.Append(CultureInfo.InvariantCulture, $" @ {rate} Hz");
            }

            text.Append('\n').Append("  signal:   ").Append(Samples(input.Signal.Span, samplesShown));
        }
        else
        {
            var value = record.Message.Value ?? [];
            text.Append(CultureInfo.InvariantCulture, $"  undecodable ({decoded.Error?.CodeName}: {Printable(decoded.Error?.Message)}), {Counted.Of(value.Length, "byte")}")
                .Append('\n').Append("  value: ").Append(Preview(value));
        }

        return text.ToString();
    }

    private static string Form(SampleFormat format) => ChunkProducer.FormatName(format);

    /// <summary>
    /// The record's timestamp as UTC, or its raw milliseconds when no <see cref="DateTimeOffset"/> holds it (before year 1
    /// or after 9999): the timestamp is the producer's to set, and one odd record must not stop a tail.
    /// </summary>
    public static string Timestamp(long unixMs)
        => unixMs >= MinUnixMs && unixMs <= MaxUnixMs
            ? DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"ts {unixMs} ms (out of range)");

    /// <summary>
    /// <paramref name="text"/> (a key, a header, a value: whatever a producer wrote) safe to print on a terminal: every
    /// character it would act on instead of showing is escaped. <c>\n</c>, <c>\r</c>, <c>\t</c>; the other C0 controls (ESC
    /// as <c>\x1b</c>), DEL and the C1 controls as <c>\xHH</c>; the bidirectional marks, embeddings, overrides and isolates
    /// and the line and paragraph separators as <c>\uHHHH</c> (U+202E as <c>\u202e</c>); a backslash as <c>\\</c>, so an
    /// escape in the output always stands for one character of the record.
    /// </summary>
    public static string Printable(string? text)
    {
        if (text is null || !text.AsSpan().ContainsAny(Escaped))
        {
            return text ?? string.Empty;
        }

        var shown = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            _ = c switch
            {
                '\\' => shown.Append(@"\\"),
                '\n' => shown.Append(@"\n"),
                '\r' => shown.Append(@"\r"),
                '\t' => shown.Append(@"\t"),
                _ when !Escaped.Contains(c) => shown.Append(c),
                < '\u0100' => shown.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}"),
                _ => shown.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
            };
        }

        return shown.ToString();
    }

    private static string Samples(ReadOnlySpan<double> samples, int shown)
    {
        var text = new StringBuilder();
        for (var i = 0; i < Math.Min(shown, samples.Length); i++)
        {
            text.Append(i == 0 ? string.Empty : " ").Append(samples[i].ToString("G6", CultureInfo.InvariantCulture));
        }

        return samples.Length > shown ? text.Append(CultureInfo.InvariantCulture, $" ... (+{samples.Length - shown})").ToString() : text.ToString();
    }

    /// <summary>Text as text (first 200 bytes, control characters escaped: <see cref="Printable"/>), anything else as hex.</summary>
    private static string Preview(byte[] value)
    {
        var shown = value.AsSpan(0, Math.Min(value.Length, 200));
        var printable = System.Text.Unicode.Utf8.IsValid(shown) && !shown.ContainsAnyInRange((byte)0, (byte)8);
        var text = printable ? Printable(Encoding.UTF8.GetString(shown)) : Convert.ToHexString(shown[..Math.Min(shown.Length, 64)]);
        return value.Length > shown.Length || (!printable && shown.Length > 64) ? text + " ..." : text;
    }
}
