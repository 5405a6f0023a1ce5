namespace SignalPipeline.Messages;

/// <summary>Why a record could not be decoded. The kebab-case name (<see cref="DecodeError.CodeName"/>) goes into the
/// <c>dlq-error-code</c> header.</summary>
public enum DecodeErrorCode
{
    /// <summary>Decoded fine.</summary>
    None = 0,

    /// <summary><c>content-type</c> is not one of <see cref="ContentTypes"/>.</summary>
    UnknownContentType,

    /// <summary>The value is not valid JSON (syntax error, truncated, trailing data, not UTF-8).</summary>
    MalformedJson,

    /// <summary>A JSON field (or the whole value) has the wrong JSON type, e.g. <c>"seq":"1"</c> or a string sample.</summary>
    WrongType,

    /// <summary>A required field or header is absent.</summary>
    MissingField,

    /// <summary>A header value cannot be parsed (e.g. <c>seq: abc</c>).</summary>
    InvalidHeader,

    /// <summary>A sample is NaN, ±Infinity or out of the double range.</summary>
    NonFiniteSample,

    /// <summary>The signal has no samples.</summary>
    EmptySignal,

    /// <summary>More samples than <see cref="DecodeLimits.MaxSamples"/>.</summary>
    TooManySamples,

    /// <summary><c>seq</c> is negative.</summary>
    NegativeSeq,

    /// <summary>The stream id is empty, too long or not valid UTF-8.</summary>
    InvalidStreamId,

    /// <summary>The Kafka key and the stream id in the body or headers differ.</summary>
    StreamIdMismatch,

    /// <summary><c>sample_rate</c> is not a positive finite number.</summary>
    InvalidSampleRate,

    /// <summary><c>timestamp_ms</c> or <c>processed_ms</c> is negative.</summary>
    InvalidTimestamp,

    /// <summary>A binary value's length is not a whole number of samples (of raw + filtered pairs for output).</summary>
    InvalidBinaryLength,

    /// <summary>An output chunk's <c>signal</c> and <c>filtered_signal</c> have different lengths.</summary>
    LengthMismatch,

    /// <summary>An output chunk's <c>algorithm</c> is empty.</summary>
    InvalidAlgorithm,
}

/// <summary>A decode failure: a stable code for machines and a message for people that names the field.</summary>
public readonly record struct DecodeError(DecodeErrorCode Code, string Message)
{
    /// <summary>No error.</summary>
    public static DecodeError None => default;

    /// <summary>The code as the kebab-case string used in the <c>dlq-error-code</c> header, e.g. <c>malformed-json</c>.</summary>
    public string CodeName => Code switch
    {
        DecodeErrorCode.None => "none",
        DecodeErrorCode.UnknownContentType => "unknown-content-type",
        DecodeErrorCode.MalformedJson => "malformed-json",
        DecodeErrorCode.WrongType => "wrong-type",
        DecodeErrorCode.MissingField => "missing-field",
        DecodeErrorCode.InvalidHeader => "invalid-header",
        DecodeErrorCode.NonFiniteSample => "non-finite-sample",
        DecodeErrorCode.EmptySignal => "empty-signal",
        DecodeErrorCode.TooManySamples => "too-many-samples",
        DecodeErrorCode.NegativeSeq => "negative-seq",
        DecodeErrorCode.InvalidStreamId => "invalid-stream-id",
        DecodeErrorCode.StreamIdMismatch => "stream-id-mismatch",
        DecodeErrorCode.InvalidSampleRate => "invalid-sample-rate",
        DecodeErrorCode.InvalidTimestamp => "invalid-timestamp",
        DecodeErrorCode.InvalidBinaryLength => "invalid-binary-length",
        DecodeErrorCode.LengthMismatch => "length-mismatch",
        DecodeErrorCode.InvalidAlgorithm => "invalid-algorithm",
        _ => Code.ToString(),
    };

    /// <summary><c>code-name: message</c>.</summary>
    public override string ToString() => $"{CodeName}: {Message}";
}

/// <summary>Bounds a decoder enforces so one bad record cannot exhaust memory.</summary>
public sealed record DecodeLimits
{
    /// <summary>The defaults: 65 536 samples, 256-byte stream ids, 64-byte algorithm names.</summary>
    public static DecodeLimits Default { get; } = new();

    /// <summary>Most samples a chunk may carry (per signal for output chunks).</summary>
    public int MaxSamples { get; init; } = 65_536;

    /// <summary>Longest stream id, in UTF-8 bytes.</summary>
    public int MaxStreamIdBytes { get; init; } = 256;

    /// <summary>
    /// Longest <c>algorithm</c> of an output chunk, in UTF-8 bytes: a reader keeps it per stream (the bridge does), so
    /// a record with megabytes there would make it hold that much for each stream.
    /// </summary>
    public int MaxAlgorithmBytes { get; init; } = 64;
}
