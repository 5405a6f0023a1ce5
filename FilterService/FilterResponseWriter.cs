using System.Text.Json;
using SignalPipeline.Messages;

namespace FilterService;

/// <summary>Writes filter results with <see cref="Utf8JsonWriter"/> (or raw little-endian float64, or the binary batch) straight into the response pipe.</summary>
public static class FilterResponseWriter
{
    public const string JsonContentType = "application/json; charset=utf-8";
    public const string BinaryContentType = "application/octet-stream";
    public const string StateHeader = "X-Filter-State";
    public const string AlgorithmHeader = "X-Filter-Algorithm";

    // Flushing every few thousand samples keeps a large response from piling up in memory before it is sent.
    private const int SamplesPerFlush = 8192;

    // The binary batch flushes by bytes (states and samples): as many as SamplesPerFlush samples take.
    private const int BytesPerFlush = SamplesPerFlush * sizeof(double);

    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true };

    /// <summary><c>{"algorithm":"kalman","filtered_signal":[...],"state":"base64"}</c>.</summary>
    public static async Task WriteRunAsync(HttpResponse response, string algorithm, double[] output, FilterResult result, CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = JsonContentType;
        await using var writer = new Utf8JsonWriter(response.BodyWriter, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("algorithm"u8, algorithm);
        await WriteSignalAsync(writer, response, output, result.Offset, result.Length, cancellationToken);
        writer.WriteBase64String("state"u8, result.State);
        writer.WriteEndObject();
        writer.Flush();
        await response.BodyWriter.FlushAsync(cancellationToken);
    }

    /// <summary><c>{"algorithm":"kalman","results":[{"filtered_signal":[...],"state":"base64"}, ...]}</c>.</summary>
    public static async Task WriteBatchAsync(HttpResponse response, string algorithm, double[] output, IReadOnlyList<FilterResult> results, CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = JsonContentType;
        await using var writer = new Utf8JsonWriter(response.BodyWriter, WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("algorithm"u8, algorithm);
        writer.WriteStartArray("results"u8);
        foreach (var result in results)
        {
            writer.WriteStartObject();
            await WriteSignalAsync(writer, response, output, result.Offset, result.Length, cancellationToken);
            writer.WriteBase64String("state"u8, result.State);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
        await response.BodyWriter.FlushAsync(cancellationToken);
    }

    /// <summary>Little-endian float64 body; algorithm and base64 state in headers.</summary>
    public static async Task WriteBinaryAsync(HttpResponse response, string algorithm, double[] output, FilterResult result, CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = BinaryContentType;
        response.ContentLength = (long)result.Length * sizeof(double);
        response.Headers[AlgorithmHeader] = algorithm;
        response.Headers[StateHeader] = Convert.ToBase64String(result.State);
        for (var start = 0; start < result.Length; start += SamplesPerFlush)
        {
            BinaryBatch.WriteSamples(response.BodyWriter, output.AsSpan(result.Offset + start, Math.Min(SamplesPerFlush, result.Length - start)));
            await response.BodyWriter.FlushAsync(cancellationToken);
        }
    }

    /// <summary>The binary batch (<see cref="BinaryBatch"/>): item count, then per result its header, state and samples.</summary>
    public static async Task WriteBinaryBatchAsync(HttpResponse response, string algorithm, double[] output, IReadOnlyList<FilterResult> results, CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = BinaryBatch.MediaType;
        response.ContentLength = BinaryBatch.ResponseLength(results);
        response.Headers[AlgorithmHeader] = algorithm;
        var writer = response.BodyWriter;
        BinaryBatch.WriteCount(writer, results.Count);
        // States count too: many short items with large states (rls order 64: ~33 KB each) would otherwise pile up
        // whole in the response pipe, holding the states twice.
        var unflushed = 0;
        foreach (var result in results)
        {
            BinaryBatch.WriteItemHead(writer, result.Length, result.State);
            unflushed += BinaryBatch.ItemHeaderBytes + result.State.Length;
            if (unflushed >= BytesPerFlush)
            {
                await writer.FlushAsync(cancellationToken);
                unflushed = 0;
            }

            for (var start = 0; start < result.Length; start += SamplesPerFlush)
            {
                var length = Math.Min(SamplesPerFlush, result.Length - start);
                BinaryBatch.WriteSamples(writer, output.AsSpan(result.Offset + start, length));
                unflushed += length * sizeof(double);
                if (unflushed >= BytesPerFlush)
                {
                    await writer.FlushAsync(cancellationToken);
                    unflushed = 0;
                }
            }
        }

        await writer.FlushAsync(cancellationToken);
    }

    private static async ValueTask WriteSignalAsync(Utf8JsonWriter writer, HttpResponse response, double[] output, int offset, int length, CancellationToken cancellationToken)
    {
        writer.WriteStartArray("filtered_signal"u8);
        for (var start = 0; start < length; start += SamplesPerFlush)
        {
            WriteNumbers(writer, output.AsSpan(offset + start, Math.Min(SamplesPerFlush, length - start)));
            writer.Flush();
            await response.BodyWriter.FlushAsync(cancellationToken);
        }

        writer.WriteEndArray();
    }

    // The codec's formatting (ShortestDouble), so a client parsing the text gets the same bits: Utf8JsonWriter's own text
    // for a few doubles (2^-958 as 4.104536801298376E-289) parses back to a neighbour.
    private static void WriteNumbers(Utf8JsonWriter writer, ReadOnlySpan<double> values)
    {
        Span<byte> text = stackalloc byte[ShortestDouble.BufferLength];
        foreach (var value in values)
        {
            writer.WriteRawValue(text[..ShortestDouble.Format(value, text)], skipInputValidation: true);
        }
    }
}

/// <summary>One item's output: a slice of the output buffer and the filter's state after it.</summary>
public readonly record struct FilterResult(int Offset, int Length, byte[] State);
