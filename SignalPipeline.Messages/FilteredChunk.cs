namespace SignalPipeline.Messages;

/// <summary>
/// A filtered chunk as written to <c>sample-output</c>: the input chunk's samples and the filter's output for them.
/// </summary>
/// <param name="StreamId">The stream's id; also the Kafka key (UTF-8).</param>
/// <param name="Seq">The input chunk's <see cref="SampleChunk.Seq"/>.</param>
/// <param name="Algorithm">The filter that produced <paramref name="FilteredSignal"/> (e.g. <c>kalman</c>).</param>
/// <param name="Signal">The raw input samples.</param>
/// <param name="FilteredSignal">The filter's output, one value per raw sample.</param>
/// <param name="TimestampMs">The input chunk's producer timestamp (Unix ms); the processor uses the Kafka record
/// timestamp when the input had none. Output time minus this is the end-to-end latency.</param>
/// <param name="ProcessedMs">Unix time in milliseconds when the processor filtered the chunk.</param>
public sealed record FilteredChunk(
    string StreamId,
    long Seq,
    string Algorithm,
    ReadOnlyMemory<double> Signal,
    ReadOnlyMemory<double> FilteredSignal,
    long TimestampMs,
    long ProcessedMs)
{
    /// <summary>The wire form this chunk was decoded from, and the one <see cref="SampleCodec"/> encodes it in
    /// (the processor mirrors the input's form).</summary>
    public SampleFormat Format { get; init; } = SampleFormat.Json;

    /// <summary>
    /// Optional: the JSON text of a <c>signal</c> array that parses to exactly <see cref="Signal"/> (the input record's
    /// own text, located by <see cref="SampleChunk.SignalJsonRange"/>). The JSON encoder writes it as-is instead of
    /// formatting every raw sample again, which halves the cost of encoding a JSON output. Not validated: only pass
    /// text that a successful decode produced. Ignored by the binary forms.
    /// </summary>
    public ReadOnlyMemory<byte> SignalJson { get; init; }
}
