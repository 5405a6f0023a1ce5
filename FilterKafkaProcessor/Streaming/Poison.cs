using Confluent.Kafka;
using FilterKafkaProcessor.State;
using SignalPipeline.Messages;

namespace FilterKafkaProcessor.Streaming;

/// <summary>
/// Why one record is dead-lettered after it decoded: the <c>dlq-error-code</c> values the processor adds to the codec's
/// own (docs/processor.md, "Failure isolation").
/// </summary>
public static class PoisonCodes
{
    public const string NonFiniteOutput = "non-finite-output";
    public const string SeqOutOfRange = "seq-out-of-range";
    public const string OutputTooLarge = "output-too-large";
    public const string FilterFailed = "filter-failed";
    public const string RemoteRefused = "remote-refused";
    public const string TooManyStreams = "too-many-streams";
}

/// <summary>One record on its way to the dead-letter topic: what was read, and why it is refused.</summary>
public sealed record DeadLetter(byte[]? Key, byte[]? Value, IReadOnlyList<KeyValuePair<string, byte[]?>> Headers, TopicPartitionOffset Source, string Code, string Reason)
{
    public static DeadLetter From(ConsumeResult<byte[], byte[]> record, string code, string reason)
        => new(record.Message.Key, record.Message.Value, PendingChunk.CopyHeaders(record.Message.Headers), record.TopicPartitionOffset, code, reason);

    public static DeadLetter From(ConsumeResult<byte[], byte[]> record, DecodeError error) => From(record, error.CodeName, error.Message);
}

/// <summary>
/// What fits one Kafka message, derived from the producer's <c>message.max.bytes</c> (librdkafka refuses a larger record
/// before sending it): a chunk is accepted only if its worst-case output fits, and held chunks only while the
/// checkpoint that stores them fits (docs/processor.md, "Limits").
/// </summary>
public sealed class ChunkLimits(int maxMessageBytes)
{
    /// <summary>librdkafka's default <c>message.max.bytes</c>.</summary>
    public const int DefaultMaxMessageBytes = 1_000_000;

    /// <summary>The smallest <c>message.max.bytes</c> the processor runs with: twice the checkpoint's reserve.</summary>
    public const int MinMaxMessageBytes = 2 * CheckpointReserveBytes;

    /// <summary>librdkafka's largest <c>message.max.bytes</c>.</summary>
    public const int MaxMaxMessageBytes = 1_000_000_000;

    /// <summary>Room for the key, the headers and the JSON framing of one output record.</summary>
    public const int RecordOverheadBytes = 4096;

    /// <summary>Room in a checkpoint for the filter state (rls of order 64 is ~34 KB) and the framing.</summary>
    public const int CheckpointReserveBytes = 64 * 1024;

    /// <summary>The longest shortest-round-trip double ("-2.2250738585072014E-308") plus its comma.</summary>
    public const int MaxJsonSampleBytes = 25;

    public int MaxMessageBytes { get; } = maxMessageBytes;

    /// <summary>Bytes of held chunks (values and headers, as the checkpoint stores them) a stream may keep: its checkpoint must fit one message.</summary>
    public long MaxHeldBytes => MaxMessageBytes - CheckpointReserveBytes;

    /// <summary>The largest chunk accepted in each form (documented; JSON depends on the numbers' spelling).</summary>
    public int MaxSamples(SampleFormat format) => (MaxMessageBytes - RecordOverheadBytes) / format switch
    {
        SampleFormat.Float32 => 2 * sizeof(float),
        SampleFormat.Float64 => 2 * sizeof(double),
        _ => 2 * MaxJsonSampleBytes,
    };

    /// <summary>The output's worst-case size: raw and filtered samples (JSON: the input's own text and the longest
    /// possible filtered numbers) plus <see cref="RecordOverheadBytes"/>.</summary>
    public static long WorstCaseOutputBytes(SampleChunk chunk)
    {
        var samples = (long)chunk.Signal.Length;
        return RecordOverheadBytes + chunk.Format switch
        {
            SampleFormat.Float32 => samples * 2 * sizeof(float),
            SampleFormat.Float64 => samples * 2 * sizeof(double),
            _ => (chunk.SignalJsonRange is { } range ? range.GetOffsetAndLength(int.MaxValue).Length : samples * MaxJsonSampleBytes) + samples * MaxJsonSampleBytes,
        };
    }

    /// <summary>Null when the chunk's output fits one message; otherwise the reason naming the sizes.</summary>
    public string? OutputTooLarge(SampleChunk chunk)
    {
        var bytes = WorstCaseOutputBytes(chunk);
        return bytes <= MaxMessageBytes
            ? null
            : $"{chunk.Signal.Length} {chunk.Format} samples make an output of up to {bytes} bytes, over the producer's message.max.bytes {MaxMessageBytes} (largest accepted chunk: {MaxSamples(chunk.Format)} samples in this form)";
    }

    /// <summary>True when the dead letter, as it is, fits one message with its <c>dlq-*</c> headers.</summary>
    public bool DeadLetterFits(DeadLetter letter)
        => (letter.Key?.Length ?? 0) + (letter.Value?.Length ?? 0) + letter.Headers.Sum(h => (long)System.Text.Encoding.UTF8.GetByteCount(h.Key) + (h.Value?.Length ?? 0) + 16)
            + System.Text.Encoding.UTF8.GetByteCount(letter.Reason) + RecordOverheadBytes <= MaxMessageBytes;

    /// <summary>The longest <c>dlq-reason</c>, in characters; a longer one is cut and says how long it was.</summary>
    public const int MaxReasonChars = 1024;

    /// <summary>
    /// The dead letter as it can be written in one message: its reason at most <see cref="MaxReasonChars"/>; whole when
    /// it fits; else without the original value; else also without the original headers; else also without the key (a
    /// record the broker took can carry up to its limit in headers or key, and a letter that can never be written would
    /// stop its partition). The reason says what was left out.
    /// </summary>
    public DeadLetter Fitted(DeadLetter letter)
    {
        var reason = letter.Reason;
        var whole = letter with { Reason = Reason(reason) };
        if (DeadLetterFits(whole))
        {
            return whole;
        }

        var valueBytes = letter.Value?.Length ?? 0;
        var withoutValue = letter with { Value = null, Reason = Reason(reason, $" (value of {valueBytes} bytes left out: too large for one message)") };
        if (DeadLetterFits(withoutValue))
        {
            return withoutValue;
        }

        var headerBytes = letter.Headers.Sum(h => (long)System.Text.Encoding.UTF8.GetByteCount(h.Key) + (h.Value?.Length ?? 0));
        var withoutHeaders = withoutValue with
        {
            Headers = [],
            Reason = Reason(reason, $" (value of {valueBytes} bytes and {letter.Headers.Count} original headers of {headerBytes} bytes left out: too large for one message)"),
        };
        return DeadLetterFits(withoutHeaders) ? withoutHeaders : withoutHeaders with
        {
            Key = null,
            Reason = Reason(reason, $" (value of {valueBytes} bytes, {letter.Headers.Count} original headers of {headerBytes} bytes and a key of {letter.Key?.Length ?? 0} bytes left out: too large for one message)"),
        };
    }

    /// <summary><paramref name="reason"/> then <paramref name="note"/>, in at most <see cref="MaxReasonChars"/>: a reason
    /// too long is cut (never inside a surrogate pair) and says how long it was; the note stays whole.</summary>
    private static string Reason(string reason, string note = "")
    {
        if (reason.Length + note.Length <= MaxReasonChars)
        {
            return reason + note;
        }

        var suffix = $"... (a reason of {reason.Length} characters, cut)";
        var keep = MaxReasonChars - suffix.Length - note.Length;
        keep -= char.IsHighSurrogate(reason[keep - 1]) ? 1 : 0;
        return string.Concat(reason.AsSpan(0, keep), suffix, note);
    }
}
