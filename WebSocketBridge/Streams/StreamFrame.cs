using System.Buffers;
using System.Text.Json;
using SignalPipeline.Messages;

namespace WebSocketBridge.Streams;

/// <summary>
/// What one stream brought in one frame interval: its raw and filtered samples, seq range and latencies.
/// One instance is shared by every client subscribed to the stream; its JSON is written once per resolution and
/// cached (<see cref="GetPayload"/>), so the cost of a frame does not grow with the number of clients.
/// </summary>
/// <param name="FirstPosition">Position of the first sample in the stream as the bridge counts samples (the chart's x).</param>
/// <param name="PipelineMs">Per chunk: processed_ms - timestamp_ms (time in the pipeline before the bridge).</param>
/// <param name="EndToEndMs">Per chunk: bridge arrival time - timestamp_ms.</param>
/// <param name="ReceivedMs">When the bridge received the newest chunk of the frame (Unix ms).</param>
/// <param name="Rate">The stream's samples per second when the frame was taken.</param>
public sealed record StreamFrame(
    string StreamId,
    string Algorithm,
    long SeqFirst,
    long SeqLast,
    int Chunks,
    long FirstPosition,
    double[] Raw,
    double[] Filtered,
    long[] PipelineMs,
    long[] EndToEndMs,
    long TimestampMs,
    long ProcessedMs,
    long ReceivedMs,
    double Rate)
{
    /// <summary>The resolution of undecimated payloads.</summary>
    public const int Undecimated = 0;

    private const int Resolutions = 31;

    // Slot 0: undecimated; slot k: at most 2^k points per series.
    private readonly byte[]?[] _payloads = new byte[Resolutions][];

    /// <summary>
    /// Most points per series a client should get from this frame, as a power of two (so clients with similar budgets
    /// share one cached payload), at least 2.
    /// </summary>
    public static int Resolution(double pointsPerSeries)
    {
        var points = (int)Math.Clamp(pointsPerSeries, 2, 1 << 30);
        return 1 << int.Log2(points);
    }

    /// <summary>The frame as a JSON object (UTF-8) with at most <paramref name="resolution"/> points per series, or
    /// every sample for <see cref="Undecimated"/>.</summary>
    public byte[] GetPayload(int resolution) => GetPayload(resolution, out _);

    /// <summary>As <see cref="GetPayload(int)"/>; <paramref name="written"/> is the payload's length when this call wrote
    /// the cached payload, else 0 (so a beat counts each payload's bytes once).</summary>
    public byte[] GetPayload(int resolution, out int written)
    {
        var slot = resolution == Undecimated ? 0 : int.Log2(resolution);
        if (resolution != Undecimated && (resolution < 2 || !int.IsPow2(resolution)))
        {
            throw new ArgumentOutOfRangeException(nameof(resolution), resolution, "A resolution is 0 (undecimated) or a power of two >= 2.");
        }

        written = 0;
        if (Volatile.Read(ref _payloads[slot]) is { } cached)
        {
            return cached;
        }

        // Two clients may race to build the same payload; both results are identical, the first stored is kept.
        var payload = Write(resolution);
        if (Interlocked.CompareExchange(ref _payloads[slot], payload, null) is { } first)
        {
            return first;
        }

        written = payload.Length;
        return payload;
    }

    /// <summary>What the frame's values take: raw and filtered samples, and the chunks' latencies.</summary>
    public long ValueBytes => (Raw.Length + Filtered.Length) * (long)sizeof(double) + (PipelineMs.Length + EndToEndMs.Length) * (long)sizeof(long);

    private byte[] Write(int resolution)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + Raw.Length * 16);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true }))
        {
            json.WriteStartObject();
            json.WriteString("stream_id", StreamId);
            json.WriteString("algorithm", Algorithm);
            json.WriteNumber("seq_first", SeqFirst);
            json.WriteNumber("seq_last", SeqLast);
            json.WriteNumber("chunks", Chunks);
            json.WriteNumber("samples", Raw.Length);
            json.WriteNumber("x0", FirstPosition);
            json.WriteNumber("rate", Math.Round(Rate, 1));
            json.WriteNumber("timestamp_ms", TimestampMs);
            json.WriteNumber("processed_ms", ProcessedMs);
            json.WriteNumber("received_ms", ReceivedMs);
            WriteArray(json, "pipeline_ms", PipelineMs);
            WriteArray(json, "e2e_ms", EndToEndMs);

            if (resolution == Undecimated || Raw.Length <= resolution)
            {
                // Exact values (shortest round-trip form); x is implicit: x0 + index.
                json.WriteBoolean("decimated", false);
                WriteArray(json, "raw", Raw, exact: true);
                WriteArray(json, "filtered", Filtered, exact: true);
            }
            else
            {
                var length = MinMaxDecimator.OutputLength(Raw.Length, resolution);
                var values = ArrayPool<double>.Shared.Rent(length);
                var positions = ArrayPool<long>.Shared.Rent(length);
                try
                {
                    json.WriteBoolean("decimated", true);
                    MinMaxDecimator.Decimate(Raw, resolution, values, positions, FirstPosition);
                    WriteArray(json, "x", positions.AsSpan(0, length));
                    WriteArray(json, "raw", values.AsSpan(0, length), exact: false);
                    MinMaxDecimator.Decimate(Filtered, resolution, values);
                    WriteArray(json, "filtered", values.AsSpan(0, length), exact: false);
                }
                finally
                {
                    ArrayPool<double>.Shared.Return(values);
                    ArrayPool<long>.Shared.Return(positions);
                }
            }

            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteArray(Utf8JsonWriter json, string name, ReadOnlySpan<double> values, bool exact)
    {
        Span<byte> text = stackalloc byte[ShortestDouble.BufferLength];
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            if (exact)
            {
                // The codec's formatting: Utf8JsonWriter's text for a few doubles (2^-958) parses back to a neighbour.
                json.WriteRawValue(text[..ShortestDouble.Format(value, text)], skipInputValidation: true);
            }
            else if (Math.Abs(value) > float.MaxValue)
            {
                json.WriteNumberValue(value);
            }
            else
            {
                // Single precision is far below a pixel and halves the payload of a decimated frame.
                json.WriteNumberValue((float)value);
            }
        }

        json.WriteEndArray();
    }

    private static void WriteArray(Utf8JsonWriter json, string name, ReadOnlySpan<long> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteNumberValue(value);
        }

        json.WriteEndArray();
    }
}
