using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace SignalPipeline.Filters;

/// <summary>
/// The binary form of the filter API's <c>POST /{algorithm}/audio/batch</c> (docs/filter-api.md), for the request and
/// the answer alike: little-endian <c>u32 item count</c>, then per item <c>u32 sample count n</c>,
/// <c>u32 state length s</c>, <c>s</c> state bytes and <c>n</c> float64 samples. The processor's remote filterer writes
/// requests and reads answers with it; the filter service reads requests and writes answers with it. It lives with the
/// filters (which both reference) rather than with the Kafka messages, so the filter service carries no Kafka client.
/// </summary>
public static class FilterBatchFormat
{
    /// <summary>The media type of a binary batch, in <c>Content-Type</c> and <c>Accept</c>.</summary>
    public const string MediaType = "application/vnd.signalpipeline.filter-batch";

    /// <summary>Bytes of the leading item count.</summary>
    public const int CountBytes = sizeof(uint);

    /// <summary>Bytes of an item's header (sample count and state length).</summary>
    public const int ItemHeaderBytes = 2 * sizeof(uint);

    /// <summary>Bytes one item takes: its header, its state and its samples.</summary>
    public static long ItemBytes(int samples, int stateLength) => ItemHeaderBytes + stateLength + (long)samples * sizeof(double);

    /// <summary>Writes the item count at the start of <paramref name="destination"/>.</summary>
    public static void WriteCount(Span<byte> destination, int count) => BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)count);

    /// <summary>Reads the item count; the caller has checked that <see cref="CountBytes"/> bytes are there.</summary>
    public static uint ReadCount(ReadOnlySpan<byte> source) => BinaryPrimitives.ReadUInt32LittleEndian(source);

    /// <summary>Writes an item's header (sample count, state length) at the start of <paramref name="destination"/>.</summary>
    public static void WriteItemHeader(Span<byte> destination, int samples, int stateLength)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)samples);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[sizeof(uint)..], (uint)stateLength);
    }

    /// <summary>Reads an item's header; the caller has checked that <see cref="ItemHeaderBytes"/> bytes are there.</summary>
    public static (uint Samples, uint StateLength) ReadItemHeader(ReadOnlySpan<byte> source)
        => (BinaryPrimitives.ReadUInt32LittleEndian(source), BinaryPrimitives.ReadUInt32LittleEndian(source[sizeof(uint)..]));

    /// <summary>Writes samples as little-endian float64 into <paramref name="destination"/>, raw bits (no formatting).</summary>
    public static void WriteSamples(ReadOnlySpan<double> values, Span<byte> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
            return;
        }

        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(destination[(i * sizeof(double))..], values[i]);
        }
    }

    /// <summary>Reads little-endian float64 samples into <paramref name="destination"/>, raw bits (no parsing).</summary>
    public static void ReadSamples(ReadOnlySpan<byte> bytes, Span<double> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, double>(bytes)[..destination.Length].CopyTo(destination);
            return;
        }

        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[(i * sizeof(double))..]);
        }
    }
}
