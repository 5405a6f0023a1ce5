namespace SignalPipeline.Messages;

/// <summary>
/// A chunk of one stream's samples as produced to <c>sample-input</c>.
/// </summary>
/// <param name="StreamId">The stream's id; also the Kafka key (UTF-8), so a stream stays on one partition.</param>
/// <param name="Seq">Chunk number within the stream, from 0.</param>
/// <param name="Signal">The samples. After a decode into a <see cref="SampleBuffer"/> this points into that buffer and
/// is valid until the buffer's next use.</param>
/// <param name="SampleRate">Samples per second, if the producer knows it.</param>
/// <param name="TimestampMs">Unix time in milliseconds when the chunk was produced, if given.</param>
public sealed record SampleChunk(
    string StreamId,
    long Seq,
    ReadOnlyMemory<double> Signal,
    double? SampleRate = null,
    long? TimestampMs = null)
{
    /// <summary>The wire form this chunk was decoded from, and the one <see cref="SampleCodec"/> encodes it in.</summary>
    public SampleFormat Format { get; init; } = SampleFormat.Json;

    /// <summary>
    /// Optional, for encoding: the JSON text of a <c>signal</c> array that parses to exactly <see cref="Signal"/>,
    /// written as-is by the JSON encoder instead of formatting every sample (a producer sending the same samples again
    /// formats them once). Not validated. Ignored by the binary forms; never set by a decode.
    /// </summary>
    public ReadOnlyMemory<byte> SignalJson { get; init; }

    /// <summary>
    /// For a chunk decoded from JSON: where the <c>signal</c> array's text (from <c>[</c> to <c>]</c>) is in the decoded
    /// record value. That text parses to exactly <see cref="Signal"/>, so an encoder can copy it instead of formatting
    /// the samples again (<see cref="FilteredChunk.SignalJson"/>). Null for binary chunks.
    /// </summary>
    public Range? SignalJsonRange { get; init; }
}
